/**
 * A target whose SYNs go unanswered, without touching the host's firewall: a
 * listening socket that never accepts (a python3 child: node accepts by
 * itself), its accept queue filled; Linux then drops further SYNs, so a
 * connect hangs as towards a host that drops packets.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';

const SCRIPT = `
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(('127.0.0.1', 0))
s.listen(0)
print(s.getsockname()[1], flush=True)
sys.stdin.read()
`;

export interface Blackhole {
  readonly port: number;
  close(): void;
}

function tryConnect(port: number, ms: number): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.on('error', () => undefined);
    const t = setTimeout(() => {
      s.destroy();
      resolve(undefined);
    }, ms);
    s.once('connect', () => {
      clearTimeout(t);
      resolve(s);
    });
  });
}

export async function startBlackhole(): Promise<Blackhole> {
  // stdin stays open: the child exits when we close it (or die), never left behind.
  const proc: ChildProcess = spawn('python3', ['-c', SCRIPT], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    proc.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    proc.once('exit', (code) => reject(new Error(`blackhole exited with ${code}`)));
  });
  const fillers: Socket[] = [];
  for (let i = 0; i < 16; i++) {
    const s = await tryConnect(port, 300);
    if (!s) break; // the queue is full: SYNs are dropped now
    fillers.push(s);
  }
  const probe = await tryConnect(port, 500);
  if (probe) {
    probe.destroy();
    for (const s of fillers) s.destroy();
    proc.kill();
    throw new Error('blackhole still accepts connections');
  }
  return {
    port,
    close: () => {
      for (const s of fillers) s.destroy();
      proc.stdin!.end();
      proc.kill();
    },
  };
}
