/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: '<rootDir>/test/setup/environment.js',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/test/bench/'],
  transform: { '^.+\\.(t|j)sx?$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  testTimeout: 60000,
  // Packs import the host's plugin API by package name; the loader aliases it at run time (server/plugins/alias.ts).
  moduleNameMapper: { '^ddit-studio/plugin-api(\\.js)?$': '<rootDir>/server/plugins/api.ts' },
};
