import type { AnyNodeDefinition } from '../../server/engine/types';
import {
  AdamW,
  BatchIterator,
  DualDiffusionLoss,
  EMA,
  FlowMatchingLoss,
  ImageTextDataset,
  InstructionDataset,
  MaskedDiffusionLoss,
  NewDDiT,
  OptimizerStep,
  SaveCheckpoint,
  TrainingSample,
} from './nodes';

export const nodes: AnyNodeDefinition[] = [
  ImageTextDataset,
  InstructionDataset,
  BatchIterator,
  FlowMatchingLoss,
  MaskedDiffusionLoss,
  DualDiffusionLoss,
  AdamW,
  EMA,
  NewDDiT,
  OptimizerStep,
  SaveCheckpoint,
  TrainingSample,
];
