/**
 * Debian's peer proxies as exits in tests: squid (HTTP CONNECT) and dante
 * (SOCKS5), each in a temporary directory, on loopback, stopped by PID.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from './eventually.js';
import { accepts, freePortRange } from './ports.js';

export const have = (bin: string): boolean => spawnSync('which', [bin]).status === 0;

export interface Peer {
  port: number;
  stop(): void;
}

async function waitListening(port: number, child: ChildProcess, ms = 10_000): Promise<void> {
  const state = await eventually(`peer listening on ${port}`, async () => (child.exitCode !== null ? 'exited' : (await accepts(port)) && 'listening'), { timeoutMs: ms, everyMs: 100 });
  if (state === 'exited') throw new Error(`peer on ${port} exited (${child.exitCode})`);
}

/** Start a peer on a random port; one that exits at once (the port was taken meanwhile) is tried again on another. */
async function startOnFreePort(start: (port: number) => ChildProcess): Promise<{ port: number; child: ChildProcess }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePortRange(1);
    const child = start(port);
    try {
      await waitListening(port, child);
      return { port, child };
    } catch (err) {
      child.kill('SIGKILL');
      if (attempt >= 3 || child.exitCode === null) throw err;
    }
  }
}

/** squid as an HTTP CONNECT proxy leaving from `outgoing`. */
export async function startSquid(outgoing: string): Promise<Peer> {
  const dir = mkdtempSync(join(tmpdir(), 'hopgate-squid-'));
  chmodSync(dir, 0o777); // squid drops to its own user
  const conf = (port: number): string =>
    [
      `http_port 127.0.0.1:${port}`,
      'acl lo src 127.0.0.0/8',
      'http_access allow lo',
      'http_access deny all',
      `tcp_outgoing_address ${outgoing}`,
      'cache deny all',
      'access_log none',
      'cache_log /dev/null',
      'cache_store_log none',
      `pid_filename ${join(dir, 'squid.pid')}`,
      `coredump_dir ${dir}`,
      'shutdown_lifetime 0 seconds',
    ].join('\n');
  const { port, child } = await startOnFreePort((port) => {
    writeFileSync(join(dir, 'squid.conf'), conf(port));
    return spawn('squid', ['-N', '-f', join(dir, 'squid.conf')], { stdio: 'ignore' });
  });
  return { port, stop: () => void child.kill('SIGKILL') };
}

/** dante as a SOCKS5 proxy without auth (its username method needs system accounts) leaving from `external`. */
export async function startDante(external: string): Promise<Peer> {
  const dir = mkdtempSync(join(tmpdir(), 'hopgate-dante-'));
  const conf = (port: number): string =>
    [
      'logoutput: /dev/null',
      `internal: 127.0.0.1 port = ${port}`,
      `external: ${external}`,
      'socksmethod: none',
      'clientmethod: none',
      'user.privileged: root',
      'user.unprivileged: nobody',
      'client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }',
      'socks pass { from: 127.0.0.0/8 to: 127.0.0.0/8 }',
    ].join('\n');
  const { port, child } = await startOnFreePort((port) => {
    writeFileSync(join(dir, 'danted.conf'), conf(port));
    return spawn('danted', ['-f', join(dir, 'danted.conf'), '-N', '1'], { stdio: 'ignore' });
  });
  return { port, stop: () => void child.kill('SIGTERM') };
}
