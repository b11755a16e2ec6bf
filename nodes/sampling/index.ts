import type { AnyNodeDefinition } from '../../server/engine/types';
import {
  AnswerQuestion,
  Caption,
  CFGGuider,
  FlowMatchSampler,
  FlowMatchScheduler,
  MaskedTextSampler,
} from './nodes';
import { SelfCheckSelect } from './self-check-node';

export const nodes: AnyNodeDefinition[] = [
  FlowMatchScheduler,
  CFGGuider,
  FlowMatchSampler,
  MaskedTextSampler,
  Caption,
  AnswerQuestion,
  SelfCheckSelect,
];
