#!/usr/bin/env node
// Prints the closing line CI reads, `N passed, N failed`, from jest's --json output file, after
// naming each failed test and each suite that failed to run (so a CI log shows what broke at the end).
// A suite that failed to load counts as one failure. Exit 0 only when nothing failed and something passed.
// Several result files (one per jest pass, e.g. the WASM pass of scripts/test.sh) are summed; a file given as
// `label=path` prefixes its failures with [label].
'use strict';
const fs = require('node:fs');
const path = require('node:path');

let passed = 0;
let failed = 0;
for (const arg of process.argv.slice(2)) {
  const eq = arg.indexOf('=');
  const label = eq > 0 ? `[${arg.slice(0, eq)}] ` : '';
  const file = eq > 0 ? arg.slice(eq + 1) : arg;
  try {
    const r = JSON.parse(fs.readFileSync(file, 'utf8'));
    passed += r.numPassedTests;
    failed += r.numFailedTests + (r.numRuntimeErrorTestSuites || 0);
    for (const suite of r.testResults || []) {
      const where = path.relative(process.cwd(), suite.name);
      const failedTests = (suite.assertionResults || []).filter((t) => t.status === 'failed');
      for (const t of failedTests) console.log(`FAILED ${label}${where} › ${t.fullName}`);
      if (failedTests.length === 0 && suite.status === 'failed') {
        console.log(`FAILED ${label}${where} (the suite did not run; its error is printed above)`);
      }
    }
  } catch (err) {
    console.error(`could not read jest results from ${file}: ${err.message}`);
    failed += 1;
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
