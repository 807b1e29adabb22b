import { cpus, loadavg, totalmem } from 'node:os';
import type { Measure } from './load.js';

export interface Row {
  scenario: string;
  server: string;
  measure: Measure;
  /** Throughput as a fraction of the reference server's in the same run. */
  ratio?: number;
  /** The reference's CPU time per request as a fraction of this server's: 0.5× = twice the CPU per request. */
  cpuRatio?: number;
}

export interface Check {
  what: string;
  target: string;
  got: string;
  met: boolean;
}

const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);
const ms = (n: number) => n.toFixed(2);

export function machine(): string {
  const cores = cpus();
  const [one, five] = loadavg();
  return [
    `- date: ${new Date().toISOString()}`,
    `- cores: ${cores.length} × ${cores[0]?.model.trim() ?? 'unknown CPU'}`,
    `- memory: ${mib(totalmem())} MiB`,
    `- Node.js: ${process.version}`,
    `- load average at start: ${one.toFixed(2)} (1 min), ${five.toFixed(2)} (5 min) — the machine is shared; above ${cores.length} means other work competed`,
  ].join('\n');
}

export function table(rows: Row[]): string {
  const lines = [
    '| scenario | server | req/s | p50 ms | p99 ms | errors | peak RSS MiB | vs reference | CPU ms/req | vs reference (CPU) |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    const m = r.measure;
    const ratio = r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}×`;
    const cpuRatio = r.cpuRatio === undefined ? '' : `${r.cpuRatio.toFixed(2)}×`;
    lines.push(
      `| ${r.scenario} | ${r.server} | ${m.requestsPerSecond.toFixed(0)} | ${ms(m.p50)} | ${ms(m.p99)} | ${m.errors} | ${mib(m.peakRss)} | ${ratio} | ${m.cpuPerRequest.toFixed(3)} | ${cpuRatio} |`,
    );
  }
  return lines.join('\n');
}

export function checks(list: Check[]): string {
  const lines = ['| target | wanted | got | met |', '| --- | --- | --- | --- |'];
  for (const c of list) lines.push(`| ${c.what} | ${c.target} | ${c.got} | ${c.met ? 'yes' : 'no'} |`);
  return lines.join('\n');
}

export { mib };
