#!/usr/bin/env node
// Prints the closing line CI reads, `N passed, N failed`, from jest's --json output file.
// Jest's own summary is not read by CI. A suite that failed to load counts as one failure.
'use strict';
const fs = require('node:fs');

const file = process.argv[2];
let passed = 0;
let failed = 0;
try {
  const r = JSON.parse(fs.readFileSync(file, 'utf8'));
  passed = r.numPassedTests;
  failed = r.numFailedTests + (r.numRuntimeErrorTestSuites || 0);
} catch (err) {
  console.error(`could not read jest results from ${file}: ${err.message}`);
  failed = 1;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
