/**
 * The server protocol as the editor reads it: ComfyUI's HTTP bodies and WebSocket messages, plus our
 * `ddit.*` messages. Only types; no browser or litegraph code, so unit tests can import it.
 */

/** One input entry of /object_info: `[TYPE, options]`, `[[choices], options]` or `['COMBO', {options}]`. */
export type InputEntry = [string | string[], Record<string, unknown>?] | [string | string[]];

/** ComfyUI's /object_info entry (V1 shape). */
export interface ObjectInfo {
  input: {
    required?: Record<string, InputEntry>;
    optional?: Record<string, InputEntry>;
    hidden?: Record<string, unknown>;
  };
  input_order?: { required?: string[]; optional?: string[] };
  output: string[];
  output_is_list?: boolean[];
  output_name?: string[];
  output_tooltips?: (string | undefined | null)[];
  name: string;
  display_name?: string;
  description?: string;
  python_module?: string;
  category?: string;
  output_node?: boolean;
  deprecated?: boolean;
  experimental?: boolean;
}
export type ObjectInfoMap = Record<string, ObjectInfo>;

/** API format: node id → class and inputs; a link is [source id, output index]. */
export interface ApiNode {
  class_type: string;
  inputs: Record<string, unknown>;
  _meta?: { title?: string };
}
export type ApiPrompt = Record<string, ApiNode>;

export interface ImageRef {
  filename: string;
  subfolder?: string;
  type?: 'output' | 'temp' | 'input' | string;
}
/** What an output node shows (`executed.output`, history outputs). */
export interface UiOutput {
  images?: ImageRef[];
  text?: string[];
  [key: string]: unknown;
}

export interface InputError {
  type: string;
  message: string;
  details?: string;
  extra_info?: { input_name?: string; [k: string]: unknown };
}
export type NodeErrors = Record<
  string,
  { errors: InputError[]; class_type?: string; dependent_outputs?: string[] }
>;

/** Body of a 400 from POST /prompt. */
export interface PromptError {
  error?: { type?: string; message?: string; details?: string; extra_info?: unknown } | string;
  node_errors?: NodeErrors;
}

export interface QueueResponse {
  prompt_id: string;
  number: number;
  node_errors?: NodeErrors;
}

/** /queue item: [number, prompt_id, prompt, extra_data, outputs_to_execute]. */
export type QueueItem = [number, string, ApiPrompt, Record<string, unknown>?, string[]?];
export interface QueueState {
  queue_running: QueueItem[];
  queue_pending: QueueItem[];
}

export interface HistoryEntry {
  prompt: QueueItem;
  outputs: Record<string, UiOutput>;
  status?: {
    status_str?: string;
    completed?: boolean;
    messages?: [string, Record<string, unknown>][];
  };
}
export type History = Record<string, HistoryEntry>;

/** `ddit.text_state`: the masked text sampler's sequence at one step. */
export interface TextState {
  /** Token strings (SentencePiece pieces with '▁' for a leading space, or plain words). */
  tokens: (string | number)[];
  /** The text of each token (null where masked), when `tokens` are ids. */
  pieces?: (string | null)[];
  /** Still-masked positions: a flag per token, or a list of indices. */
  masked?: boolean[] | number[];
  /** Fixed (given) positions such as the question: a flag per token, or a list of indices. */
  fixed?: boolean[] | number[];
  step?: number;
  steps?: number;
  /** The decoded text so far (shown when tokens are absent). */
  text?: string;
}

/** `ddit.train_metrics`: one training step. */
export interface TrainMetrics {
  step: number;
  loss?: number;
  loss_img?: number;
  loss_txt?: number;
  lr?: number;
  grad_norm?: number;
  samples_per_s?: number;
  /** Optional latest sample, when the trainer attaches it to a metrics message. */
  sample_images?: ImageRef[];
  sample_caption?: string;
}

/** `ddit.train_sample`: the latest sample image and/or caption from a training run. */
export interface TrainSample {
  step?: number;
  images?: ImageRef[];
  /** One image (the training nodes send this). */
  image?: ImageRef;
  caption?: string;
  /** The prompt the sample image was drawn from. */
  prompt?: string;
}

/** A WebSocket text message. `data` shapes for the ones the editor reads are listed in socket handlers. */
export interface WsMessage {
  type: string;
  data: Record<string, unknown>;
}
