import type { AnyNodeDefinition } from '../../server/engine/types';
import { DDiTForward, LoadCheckpoint } from './nodes';
import { InitCheckpoint } from './init';

export const nodes: AnyNodeDefinition[] = [LoadCheckpoint, DDiTForward, InitCheckpoint];
