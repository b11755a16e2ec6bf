import type { AnyNodeDefinition } from '../../server/engine/types';
import { EmptyLatent, LoadVAE, VAEDecode, VAEEncode } from './nodes';
import { TrainVAE } from './train';

export const nodes: AnyNodeDefinition[] = [LoadVAE, VAEEncode, VAEDecode, EmptyLatent, TrainVAE];
