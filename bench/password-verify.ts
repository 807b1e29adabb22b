/**
 * Verify latency with the chosen argon2id parameters (not a test): `npx tsx bench/password-verify.ts [N]`.
 * Prints the median and 95th percentile of N verifications, one at a time and 4 at once.
 */
import { ARGON2_PARAMETERS, createArgon2Hasher } from '../src/adapters/password-hasher.js';

const n = Number(process.argv[2] ?? 40);
const hasher = createArgon2Hasher();
const hash = await hasher.hash('correct horse battery staple');
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];

async function timeOne(): Promise<number> {
  const t = performance.now();
  await hasher.verify(hash, 'a wrong password');
  return performance.now() - t;
}

await timeOne();
const serial: number[] = [];
for (let i = 0; i < n; i++) serial.push(await timeOne());
const parallel: number[] = [];
for (let i = 0; i < n / 4; i++) parallel.push(...(await Promise.all([timeOne(), timeOne(), timeOne(), timeOne()])));
console.log(`argon2id m=${ARGON2_PARAMETERS.memoryCost} KiB t=${ARGON2_PARAMETERS.timeCost} p=${ARGON2_PARAMETERS.parallelism}`);
console.log(`one at a time: median ${pct(serial, 50).toFixed(1)} ms, p95 ${pct(serial, 95).toFixed(1)} ms (n=${serial.length})`);
console.log(`4 at once:     median ${pct(parallel, 50).toFixed(1)} ms, p95 ${pct(parallel, 95).toFixed(1)} ms (n=${parallel.length})`);
