;; An agent that uses acme:tally: each message adds its body's length, bumps by one (answered
;; in the worker), and answers the total as a JSON number.
(module
  (import "acme:tally/tally@0.1.0" "add" (func $add (param i32) (result i64)))
  (import "acme:tally/tally@0.1.0" "bump" (func $bump (param i32)))
  (import "acme:tally/tally@0.1.0" "total" (func $total (result i64)))
  ;;COMMON
  (func (export "handle") (param $id i64) (param $kp i32) (param $kl i32) (param $sd i32) (param $sp i32) (param $sl i32)
        (param $bp i32) (param $bl i32) (param $at i64) (result i32)
    (local $n i64) (local $p i32)
    (drop (call $add (local.get $bl)))
    (call $bump (i32.const 1))
    (local.set $n (call $total))
    ;; The total in decimal, written backwards from offset 1024.
    (local.set $p (i32.const 1024))
    (loop $digits
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $n) (i64.const 10)))))
      (local.set $n (i64.div_u (local.get $n) (i64.const 10)))
      (br_if $digits (i64.ne (local.get $n) (i64.const 0))))
    (i32.store8 (i32.const 16) (i32.const 0))
    (i32.store (i32.const 20) (local.get $p))
    (i32.store (i32.const 24) (i32.sub (i32.const 1024) (local.get $p)))
    (i32.const 16))
)
