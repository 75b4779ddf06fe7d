/** What the benchmarks do with the processes they start: read a child's first line, wait for a port. */
import type { ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';

/** The first line a child prints on stdout (its JSON report or "ready" line); rejects if it exits first. */
export function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`${child.spawnargs.join(' ')} exited ${code} before reporting`)));
  });
}

/** Resolves once `host:port` accepts a connection; rejects after `ms`. */
export function waitPort(port: number, host = '127.0.0.1', ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const s = connect(port, host);
      s.once('connect', () => (s.destroy(), resolve()));
      s.once('error', () => (Date.now() > until ? reject(new Error(`port ${port} never opened`)) : setTimeout(attempt, 50)));
    };
    attempt();
  });
}
