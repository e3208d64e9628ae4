/**
 * AgentOS: embed the kernel. `Kernel.open` gives agents the capabilities AgentOS ships
 * (`defaultCapabilities`) unless `capabilities` says otherwise; capabilities of your own are
 * written against `agentos/sdk` and passed beside them (docs/capabilities.md).
 *
 * @example
 * import { Kernel } from 'agentos';
 * const kernel = await Kernel.open({ home: './.agentos' });
 * const id = await kernel.spawn('/tmp/echo.wasm', { grants: ['log', 'working-memory'] });
 * console.log(await kernel.send(id, { text: 'hi' }));
 * await kernel.close();
 */
import { defaultCapabilities } from './hostcalls/index.js';
import { Kernel as KernelAlone, type KernelOptions } from './kernel/kernel.js';

export * from './kernel/index.js';
export { defaultCapabilities };

export class Kernel extends KernelAlone {
  /** As the kernel's own `open`, with `capabilities` defaulting to `defaultCapabilities`. */
  static override open(options: KernelOptions = {}): Promise<Kernel> {
    // biome-ignore lint/complexity/noThisInStatic: super.open runs with this class as `this`, so the kernel it builds is one of this class
    return super.open({
      ...options,
      capabilities: options.capabilities ?? defaultCapabilities,
    }) as Promise<Kernel>;
  }
}
