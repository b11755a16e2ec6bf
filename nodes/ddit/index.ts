import type { AnyNodeDefinition } from '../../server/engine/types';
import { DDiTForward, LoadCheckpoint } from './nodes';
import { InitCheckpoint } from './init';
import { DeepenCheckpoint } from './deepen';

export const nodes: AnyNodeDefinition[] = [LoadCheckpoint, DDiTForward, InitCheckpoint, DeepenCheckpoint];
