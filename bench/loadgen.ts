/**
 * The C setup generator (bench/loadgen.c), compiled once per run with the
 * system's `cc`. Setup-rate jobs go to it when it builds: a Node generator
 * saturates near 7-8k setups/s here and would hide differences between proxies.
 * Without a C compiler, setups fall back to bench/load.ts (the report says which).
 */
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Job } from './load.js';

const source = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'loadgen.c');

/** Path of the compiled generator in `workDir`, or undefined when no compiler is present. */
export function buildLoadgen(workDir: string): string | undefined {
  const out = join(workDir, 'loadgen');
  const r = spawnSync('cc', ['-O2', '-o', out, source], { stdio: ['ignore', 'ignore', 'inherit'] });
  return r.status === 0 ? out : undefined;
}

/** Command-line arguments of the C generator for a setup job (same semantics as load.ts). */
export function loadgenArgs(job: Extract<Job, { kind: 'setup' }>): string[] {
  const args = ['--echo', job.echo.join(','), '--c', String(job.concurrency), '--ms', String(job.ms)];
  if (job.via) {
    args.push('--via', String(job.via.port));
    if (job.via.user !== undefined) args.push('--user', job.via.user, '--pass', job.via.pass ?? '');
  }
  return args;
}
