#!/usr/bin/env node
// The installed entry point runs the compiled CLI; `npm install` builds it (the `prepare` script).
import { main } from '../dist/cli/index.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  },
);
