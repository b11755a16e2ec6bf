import type { Preview, UiOutput } from './types';

/** Events the engine emits while executing; the server relays them to WebSocket clients unchanged. */
export interface ExecutionStartEvent {
  type: 'execution_start';
  data: { prompt_id: string; timestamp: number };
}
export interface ExecutionCachedEvent {
  type: 'execution_cached';
  data: { prompt_id: string; nodes: string[]; timestamp: number };
}
export interface ExecutingEvent {
  type: 'executing';
  data: { prompt_id: string; node: string | null; display_node: string | null };
}
export interface ProgressEvent {
  type: 'progress';
  data: { prompt_id: string; node: string; value: number; max: number };
  /** Optional encoded preview image; the server turns it into a binary frame. */
  preview?: Preview;
}
export interface ExecutedEvent {
  type: 'executed';
  data: { prompt_id: string; node: string; display_node: string; output: UiOutput };
}
export interface ExecutionErrorEvent {
  type: 'execution_error';
  data: {
    prompt_id: string;
    node_id: string;
    node_type: string;
    executed: string[];
    exception_message: string;
    exception_type: string;
    traceback: string[];
    current_inputs: Record<string, unknown>;
    current_outputs: string[];
    timestamp: number;
  };
}
export interface ExecutionInterruptedEvent {
  type: 'execution_interrupted';
  data: {
    prompt_id: string;
    node_id: string | null;
    node_type: string | null;
    executed: string[];
    timestamp: number;
  };
}
export interface ExecutionSuccessEvent {
  type: 'execution_success';
  data: { prompt_id: string; timestamp: number };
}
/** Loop progress over a whole looped run (training): one stream for all iterations. */
export interface LoopProgressEvent {
  type: 'ddit.loop';
  data: { prompt_id: string; iteration: number; total: number; stopped?: string };
}
/** Node-defined messages (text-denoising states, training metrics) under their own type names. */
export interface CustomEvent {
  type: string;
  data: Record<string, unknown> & { prompt_id: string; node: string };
}

export type EngineEvent =
  | ExecutionStartEvent
  | ExecutionCachedEvent
  | ExecutingEvent
  | ProgressEvent
  | ExecutedEvent
  | ExecutionErrorEvent
  | ExecutionInterruptedEvent
  | ExecutionSuccessEvent
  | LoopProgressEvent
  | CustomEvent;

export type EventSink = (event: EngineEvent) => void;
