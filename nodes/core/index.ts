import type { AnyNodeDefinition } from '../../server/engine/types';
import * as primitives from './primitives';
import * as display from './display';
import * as control from './control';

export const nodes: AnyNodeDefinition[] = [
  ...Object.values(primitives),
  ...Object.values(display),
  ...Object.values(control),
];
