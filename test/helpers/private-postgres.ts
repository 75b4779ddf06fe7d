/**
 * A PostgreSQL cluster of the test's own (initdb into a temp dir, run as the
 * `postgres` user on a free loopback port, its socket in that dir), so a test
 * can stop and start a real server without touching the machine's shared one.
 * Needs root (runuser) and the server binaries; `privatePostgresUnavailable`
 * says why not otherwise.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.js';

const run = promisify(execFile);

function binDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : undefined;
}

export function privatePostgresUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to run initdb as the postgres user';
  if (!binDir()) return 'no PostgreSQL server binaries under /usr/lib/postgresql';
  try {
    execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' });
  } catch {
    return 'no postgres user';
  }
  return undefined;
}

export interface PrivatePostgres {
  readonly port: number;
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  readonly url: string;
  stop(mode: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = binDir()!;
  const dir = mkdtempSync(join(tmpdir(), 'hopgate-pg-'));
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  chownSync(dir, uid, gid);
  const data = join(dir, 'data');
  const asPostgres = (cmd: string, args: string[], timeout = 60_000) => run('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args], { timeout });
  await asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  // A free loopback port (another process could take it before the server does; then start fails loudly).
  const port = await freePort();
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50`;
  const pg: PrivatePostgres = {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async start() {
      await asPostgres('pg_ctl', ['-D', data, '-w', '-t', '60', '-o', opts, '-l', join(dir, 'log'), 'start'], 90_000);
    },
    async stop(mode) {
      await asPostgres('pg_ctl', ['-D', data, '-w', '-t', '60', '-m', mode, 'stop'], 90_000);
    },
    async destroy() {
      if (existsSync(join(data, 'postmaster.pid'))) await pg.stop('immediate').catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await pg.start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return pg;
}
