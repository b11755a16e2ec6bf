import type { AnyNodeDefinition } from '../../server/engine/types';
import {
  AnswerQuestion,
  Caption,
  CFGGuider,
  FlowMatchSampler,
  FlowMatchScheduler,
  MaskedTextSampler,
} from './nodes';

export const nodes: AnyNodeDefinition[] = [
  FlowMatchScheduler,
  CFGGuider,
  FlowMatchSampler,
  MaskedTextSampler,
  Caption,
  AnswerQuestion,
];
