/** Shared neural-network building blocks for the model packs (tfjs, NHWC, fast paths for wasm). */
export * from './random';
export * from './init';
export * from './module';
export * from './ops';
export * from './layers';
export * from './attention';
export * from './embeddings';
