import type { NodeRegistry } from '../engine';
import type { ServerConfig } from './config';
import type { JobTransport } from './job-queue';
import type { PacksLoaded } from './node-packs';
import type { Scheduler } from './scheduler';
import type { JobStore } from './store';

/** What route handlers share. */
export interface ApiContext {
  cfg: ServerConfig;
  /** The API process's own registry: validation and /object_info (workers load the same packs). */
  registry: NodeRegistry;
  packs: PacksLoaded;
  scheduler: Scheduler;
  transport: JobTransport;
  store: JobStore;
  version: string;
  startedAt: number;
}
