/**
 * Jest environment: Node's, plus stopping the tensor runtime once a test file is completely done (after its
 * own afterAll hooks, which may still dispose tensors). Without this, every file that starts the wasm backend
 * would leave its pool threads and heap alive in the jest worker that runs the next files.
 * server/runtime/shutdown.ts publishes its hook runner on the test file's global under this key.
 */
const NodeEnvironment = require('jest-environment-node').TestEnvironment;

class RuntimeEnvironment extends NodeEnvironment {
  async teardown() {
    const shutdown = this.global && this.global.__dditRuntimeShutdown;
    if (typeof shutdown === 'function') await shutdown();
    await super.teardown();
  }
}

module.exports = RuntimeEnvironment;
