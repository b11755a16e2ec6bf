/** Raised when a run is interrupted (AbortSignal) between nodes or at a progress tick. */
export class InterruptedError extends Error {
  override name = 'InterruptedError';
  constructor(message = 'Execution was interrupted') {
    super(message);
  }
}

/** A node failed while running; carries what the error event and the CLI need to name it. */
export class NodeExecutionError extends Error {
  override name = 'NodeExecutionError';
  constructor(
    readonly nodeId: string,
    readonly classType: string,
    override readonly cause: Error,
  ) {
    super(`Node ${nodeId} (${classType}) failed: ${cause.message}`);
  }
}

/**
 * What a node throws for bad input that validation could not catch (a tensor of the wrong shape,
 * an unreadable file): names the input so the message reads well in the editor and the CLI.
 */
export class NodeInputError extends Error {
  override name = 'NodeInputError';
  constructor(
    readonly input: string,
    message: string,
  ) {
    super(`input '${input}': ${message}`);
  }
}
