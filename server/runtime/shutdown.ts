/**
 * Shutdown hooks of the runtime, kept in a module with no imports so that callers can run them without loading
 * tfjs when nothing was started. The runner is also published on globalThis.__dditRuntimeShutdown, where the jest
 * environment (test/setup/environment.js) finds it after each test file.
 */
type Hook = () => void | Promise<void>;

const hooks = new Set<Hook>();

export function onShutdown(hook: Hook): void {
  hooks.add(hook);
}

/** Runs (and forgets) every registered hook; errors are collected and rethrown together. */
export async function runShutdownHooks(): Promise<void> {
  const errors: unknown[] = [];
  for (const h of [...hooks]) {
    hooks.delete(h);
    try {
      await h();
    } catch (e) {
      errors.push(e);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, 'runtime shutdown failed');
}

(globalThis as { __dditRuntimeShutdown?: () => Promise<void> }).__dditRuntimeShutdown = runShutdownHooks;
