/**
 * A nats-server of the test's own (Debian's /usr/sbin/nats-server) with
 * JetStream in a temp dir on a free loopback port — never the system one on
 * 4222. stop() and start() keep the port and the store, so a test can take
 * NATS down and bring it back with its streams; destroy() removes the dir.
 * Optional users (-c config) for the authorisation tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accepts, freePort } from './ports.js';
import { eventually } from './eventually.js';
import { reapOnExit } from './procs.js';

export const NATS_SERVER = '/usr/sbin/nats-server';

export function natsServerUnavailable(): string | undefined {
  return existsSync(NATS_SERVER) ? undefined : `no ${NATS_SERVER} (apt-get install nats-server)`;
}

export interface NatsServer {
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
  stderr(): string;
}

/** `config`: a nats-server config file body (accounts, users), written beside the store. */
export async function startNatsServer(o: { config?: string } = {}): Promise<NatsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'hopgate-nats-'));
  const port = await freePort();
  const args = ['-js', '-sd', join(dir, 'js'), '-a', '127.0.0.1', '-p', String(port)];
  if (o.config !== undefined) {
    writeFileSync(join(dir, 'nats.conf'), o.config);
    args.push('-c', join(dir, 'nats.conf'));
  }
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let err = '';
  const s: NatsServer = {
    port,
    url: `nats://127.0.0.1:${port}`,
    async start() {
      const c = spawn(NATS_SERVER, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      child = c;
      reapOnExit(c);
      c.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-65536)));
      exited = new Promise((r) => c.once('exit', () => r()));
      await eventually(`nats-server on ${port}`, async () => c.exitCode === null && (await accepts(port)), { timeoutMs: 30_000 });
    },
    async stop() {
      if (child && child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
      await exited;
      child = undefined;
    },
    async destroy() {
      await s.stop();
      rmSync(dir, { recursive: true, force: true });
    },
    stderr: () => err,
  };
  try {
    await s.start();
  } catch (e) {
    await s.destroy();
    throw e;
  }
  return s;
}
