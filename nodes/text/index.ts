import type { AnyNodeDefinition } from '../../server/engine/types';
import { LoadTextEncoder, LoadTokenizer, TextEncode, Tokenize } from './nodes';

export const nodes: AnyNodeDefinition[] = [LoadTokenizer, LoadTextEncoder, Tokenize, TextEncode];
