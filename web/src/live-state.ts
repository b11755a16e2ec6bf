/**
 * What a node shows while and after it runs: progress, the latest step preview, the text sampler's
 * tokens, the training chart and samples, its final outputs, and the server's errors about it.
 */
import { MetricsHistory } from './metrics-chart';
import type { ImageRef, TextState, TrainMetrics, UiOutput } from './protocol';

export interface LoadedImage {
  img: HTMLImageElement;
  /** Where it came from (an object URL for previews, a /view URL for outputs). */
  src: string;
  ref?: ImageRef;
}

export interface NodeError {
  message: string;
  /** Input name → message for the inputs the error concerns. */
  inputs: Map<string, string>;
}

export type RunState = 'idle' | 'queued' | 'running' | 'done' | 'cached' | 'error' | 'interrupted';

/** Counts of what was actually drawn on the node (read by the browser tests and extensions). */
export interface DrawnStats {
  previewFrames: number;
  textStates: number;
  chartPoints: number;
  outputImages: number;
  outputText: string;
  textState: string;
  sampleImages: number;
  sampleCaption: string;
}

export class LiveState {
  runState: RunState = 'idle';
  progress: { value: number; max: number } | null = null;
  preview: LoadedImage | null = null;
  /** How many step previews arrived in the current run. */
  previewCount = 0;
  textState: TextState | null = null;
  metrics: MetricsHistory | null = null;
  sample: { images: LoadedImage[]; caption?: string; step?: number } | null = null;
  output: UiOutput | null = null;
  outputImages: LoadedImage[] = [];
  /** The image chosen in an upload combo (LoadImage), drawn as a thumbnail. */
  inputImage: LoadedImage | null = null;
  error: NodeError | null = null;
  drawn: DrawnStats = {
    previewFrames: 0,
    textStates: 0,
    chartPoints: 0,
    outputImages: 0,
    outputText: '',
    textState: '',
    sampleImages: 0,
    sampleCaption: '',
  };

  /**
   * A new run starts: keep outputs until new ones arrive, drop transient state. Errors stay: queueing
   * cleared the old ones, and the server may just have reported this node invalid.
   */
  resetForRun(): void {
    this.runState = this.error ? 'error' : 'queued';
    this.progress = null;
    this.previewCount = 0;
  }

  pushMetrics(m: TrainMetrics): void {
    this.metrics ??= new MetricsHistory();
    this.metrics.push(m);
  }

  setPreview(p: LoadedImage): void {
    if (this.preview?.src.startsWith('blob:')) URL.revokeObjectURL(this.preview.src);
    this.preview = p;
    this.previewCount++;
  }

  dispose(): void {
    if (this.preview?.src.startsWith('blob:')) URL.revokeObjectURL(this.preview.src);
    this.preview = null;
  }
}

/** Loads an image and calls back when it is decoded (drawing waits for it). */
export function loadImage(src: string, onLoad: () => void, ref?: ImageRef): LoadedImage {
  const img = new Image();
  img.decoding = 'async';
  img.onload = onLoad;
  img.src = src;
  return { img, src, ref };
}
