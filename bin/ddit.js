#!/usr/bin/env node
// The CLI runs the TypeScript sources directly through tsx's CommonJS hook, so no build step sits
// between `npm install` and `npm start`.
require('tsx/cjs');
require('../server/cli.ts');
