;; An agent that reaches outside: each message calls hit(1), then hit-again(1), then by the body's
;; length: 2 bytes ("") answers at once, 4 ("go") spins for a while first, 6 ("trap") traps.
;; It answers hit's count times 10 plus hit-again's, as a JSON number.
(module
  (import "acme:outside/effect@1.0.0" "hit" (func $hit (param i32) (result i32)))
  (import "acme:outside/effect@1.0.0" "hit-again" (func $again (param i32) (result i32)))
  ;;COMMON
  (func (export "handle") (param $id i64) (param $kp i32) (param $kl i32) (param $sd i32) (param $sp i32) (param $sl i32)
        (param $bp i32) (param $bl i32) (param $at i64) (result i32)
    (local $n i32) (local $i i32) (local $p i32)
    (local.set $n (i32.add (i32.mul (call $hit (i32.const 1)) (i32.const 10)) (call $again (i32.const 1))))
    (if (i32.eq (local.get $bl) (i32.const 6)) (then unreachable))
    (if (i32.eq (local.get $bl) (i32.const 4))
      (then (loop $spin
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $spin (i32.lt_u (local.get $i) (i32.const 1500000000))))))
    ;; The number in decimal, written backwards from offset 1024.
    (local.set $p (i32.const 1024))
    (loop $digits
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $digits (i32.ne (local.get $n) (i32.const 0))))
    (i32.store8 (i32.const 16) (i32.const 0))
    (i32.store (i32.const 20) (local.get $p))
    (i32.store (i32.const 24) (i32.sub (i32.const 1024) (local.get $p)))
    (i32.const 16))
)
