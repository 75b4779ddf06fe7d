/**
 * The real `hopgate ingress` command in a child process, from a config file:
 * a crash of its worker is then seen as what it is (a dead process, cut
 * connections), not as a failure of the test runner itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IngressConfigInput } from '../../src/shared/schema/ingress-config.js';
import { aliceHashed, USER } from './ingress.js';
import { reapOnExit } from './procs.js';

const MAIN = new URL('../../src/cli/main.js', import.meta.url).pathname;
const READY_BOUND_MS = 60_000;

export interface CliIngress {
  readonly port: number;
  readonly proc: ChildProcess;
  /** Everything the process wrote on stderr (a crash's stack trace lands here). */
  stderr(): string;
  stop(): Promise<void>;
}

export async function startCliIngress(workers: number, overrides: Partial<IngressConfigInput> = {}): Promise<CliIngress> {
  const dir = mkdtempSync(join(tmpdir(), 'hopgate-cli-ingress-'));
  const file = join(dir, 'ingress.yaml');
  // YAML is a superset of JSON.
  writeFileSync(file, JSON.stringify({
    listen: { host: '127.0.0.1', ports: [0, 0] },
    targetPolicy: { allow: ['127.0.0.0/8'] },
    log: { level: 'silent', access: false },
    users: [{ login: USER.login, passwordHash: await aliceHashed() }],
    ...overrides,
  }));
  const proc = spawn(process.execPath, [MAIN, 'ingress', '--config', file, '--workers', String(workers)], { stdio: ['ignore', 'pipe', 'pipe'] });
  reapOnExit(proc);
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    // A bound on the start, not an assertion (as procs.ts): 15 s failed metrics-workers in an npm test run at load 14,
    // where a 2-worker ingress starts three Node processes (~3 s of CPU) on two shared cores.
    const timer = setTimeout(() => reject(new Error(`ingress not ready in ${READY_BOUND_MS / 1000} s: ${err}`)), READY_BOUND_MS);
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { ports: number[] }).ports[0]!);
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`ingress exited with ${code}: ${err}`));
    });
  });
  return {
    port,
    proc,
    stderr: () => err,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
