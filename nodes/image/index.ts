import type { AnyNodeDefinition } from '../../server/engine/types';
import { LoadImage, PreviewImage, SaveImage } from './nodes';

export const nodes: AnyNodeDefinition[] = [LoadImage, SaveImage, PreviewImage];
