#!/usr/bin/env node
// The `rlhf` CLI (cli/main.ts). The project ships TypeScript sources run through tsx, so the bin
// registers tsx's CommonJS loader and loads the entry point; `npx rlhf --help` or `npm link`.
require('tsx/cjs');
require('../cli/rlhf.ts');
