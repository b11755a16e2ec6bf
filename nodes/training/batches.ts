/**
 * Walks a data set in batches: a seeded permutation per epoch (or file order), epochs chained
 * without partial batches. Its position (epoch, index) is part of every checkpoint, so a resumed run
 * sees exactly the batches an uninterrupted run would have seen.
 */
import { Rng } from '../sampling/random';
import type { DatasetKind, RecordOf, TrainingDataset } from './datasets';

export interface CursorState {
  epoch: number;
  position: number;
}

export interface Batch<K extends DatasetKind = DatasetKind> {
  indices: number[];
  records: RecordOf<K>[];
  /** Epoch of the batch's first record. */
  epoch: number;
}

export class BatchCursor<K extends DatasetKind = DatasetKind> {
  private epoch = 0;
  private position = 0;
  private orderEpoch = -1;
  private order: number[] = [];

  constructor(
    readonly dataset: TrainingDataset<K>,
    readonly batchSize: number,
    readonly seed: number,
    readonly shuffle: boolean,
  ) {
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new Error(`BatchIterator: batch_size must be ≥ 1`);
  }

  /** What a checkpoint stores to recognise this stream on resume. */
  get key(): string {
    return `${this.dataset.kind}:${this.dataset.fingerprint}:b${this.batchSize}:s${this.seed}:${this.shuffle ? 'shuffle' : 'ordered'}`;
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

  next(): Batch<K> {
    const indices: number[] = [];
    const epoch = this.epoch;
    while (indices.length < this.batchSize) {
      const order = this.orderFor(this.epoch);
      indices.push(order[this.position]);
      this.position++;
      if (this.position >= order.length) {
        this.position = 0;
        this.epoch++;
      }
    }
    return { indices, records: indices.map((i) => this.dataset.records[i]), epoch };
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
