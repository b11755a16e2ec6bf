/**
 * Walks a data set in batches: a seeded permutation per epoch (or file order), epochs chained
 * without partial batches. Its position (epoch, index) is part of every checkpoint, so a resumed run
 * sees exactly the batches an uninterrupted run would have seen.
 */
import { Rng } from '../sampling/random';
import { type DataItem, type DatasetLike, datasetKey, datasetTask } from './datasets';

export interface CursorState {
  epoch: number;
  position: number;
}

export interface Batch {
  indices: number[];
  /** Items read with draw = their epoch, so a data set that redraws texts per epoch can do so. */
  items: DataItem[];
  /** Epoch of the batch's first item. */
  epoch: number;
}

export class BatchCursor {
  private epoch = 0;
  private position = 0;
  private orderEpoch = -1;
  private order: number[] = [];

  constructor(
    readonly dataset: DatasetLike,
    readonly batchSize: number,
    readonly seed: number,
    readonly shuffle: boolean,
  ) {
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new Error(`BatchIterator: batch_size must be ≥ 1`);
  }

  /** What a checkpoint stores to recognise this stream on resume. */
  get key(): string {
    const ds = this.dataset;
    return `${datasetTask(ds)}:${datasetKey(ds)}:b${this.batchSize}:s${this.seed}:${this.shuffle ? 'shuffle' : 'ordered'}`;
  }

  private orderFor(epoch: number): number[] {
    if (this.orderEpoch !== epoch) {
      const n = this.dataset.size;
      this.order = this.shuffle
        ? new Rng(this.seed, epoch + 1).permutation(n)
        : Array.from({ length: n }, (_, i) => i);
      this.orderEpoch = epoch;
    }
    return this.order;
  }

  next(): Batch {
    const indices: number[] = [];
    const items: DataItem[] = [];
    const epoch = this.epoch;
    while (indices.length < this.batchSize) {
      const order = this.orderFor(this.epoch);
      indices.push(order[this.position]);
      items.push(this.dataset.get(order[this.position], this.epoch));
      this.position++;
      if (this.position >= order.length) {
        this.position = 0;
        this.epoch++;
      }
    }
    return { indices, items, epoch };
  }

  getState(): CursorState {
    return { epoch: this.epoch, position: this.position };
  }

  setState(s: CursorState): void {
    if (
      !Number.isInteger(s.epoch) ||
      !Number.isInteger(s.position) ||
      s.position < 0 ||
      s.position >= this.dataset.size
    ) {
      throw new Error(
        `BatchIterator: cannot restore position ${JSON.stringify(s)} in a data set of ${this.dataset.size}`,
      );
    }
    this.epoch = s.epoch;
    this.position = s.position;
  }

  reset(): void {
    this.epoch = 0;
    this.position = 0;
  }
}
