import type { AnyNodeDefinition } from '../../server/engine/types';
import { DDiTForward, LoadCheckpoint } from './nodes';

export const nodes: AnyNodeDefinition[] = [LoadCheckpoint, DDiTForward];
