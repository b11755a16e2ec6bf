import type { AnyNodeDefinition } from 'ddit-studio/plugin-api';
import { AdjustColor, Sharpen } from './filters';
import { ImageGrid } from './grid';
import { ApplyPalette, ExtractPalette, PaletteToImage, ShowPalette } from './palette';
import { TestPattern } from './pattern';

/** Registered as imagefx.<type> by ddit-studio (the namespace comes from the package name ddit-pack-imagefx). */
export const nodes: AnyNodeDefinition[] = [
  TestPattern,
  Sharpen,
  AdjustColor,
  ImageGrid,
  ExtractPalette,
  ApplyPalette,
  PaletteToImage,
  ShowPalette,
];
