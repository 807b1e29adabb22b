#!/usr/bin/env node
// The installed entry point runs the compiled CLI; `npm install` builds it (the `prepare` script).
// The heap is bounded first, before the modules it loads allocate (see src/heap-growth.ts).
import { boundHeapGrowth } from '../dist/heap-growth.js';

boundHeapGrowth();
const { main } = await import('../dist/cli/index.js');

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  },
);
