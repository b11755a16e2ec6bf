/**
 * Jest environment: Node's, with two additions.
 *
 * 1. Typed arrays from the outer realm. Jest already gives test files Node's own ArrayBuffer and Uint8Array
 *    but leaves Float32Array, Int32Array, BigInt64Array… to the vm context, so arrays made by native addons
 *    (onnxruntime-node outputs) fail `instanceof Float32Array` checks inside tests. Using the outer
 *    constructors everywhere makes every typed array in a test come from one realm, as in a real process.
 * 2. Stopping the tensor runtime once a test file is completely done (after its own afterAll hooks, which may
 *    still dispose tensors). Without this, every file that starts the wasm backend would leave its pool threads
 *    and heap alive in the jest worker that runs the next files. server/runtime/shutdown.ts publishes its hook
 *    runner on the test file's global under __dditRuntimeShutdown.
 */
const NodeEnvironment = require('jest-environment-node').TestEnvironment;

const OUTER_REALM_GLOBALS = [
  'Int8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
  'DataView',
];
// SharedArrayBuffer stays the context's own: WebAssembly.Memory (shared, for wasm threads) is created there.

class RuntimeEnvironment extends NodeEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of OUTER_REALM_GLOBALS) this.global[name] = globalThis[name];
  }

  async teardown() {
    const shutdown = this.global && this.global.__dditRuntimeShutdown;
    if (typeof shutdown === 'function') await shutdown();
    await super.teardown();
  }
}

module.exports = RuntimeEnvironment;
