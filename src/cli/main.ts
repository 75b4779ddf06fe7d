#!/usr/bin/env node
/** `hopgate <command>`: one CLI for every process of the network. */
import { dispatch } from './dispatch.js';

/** A port another process holds is the operator's to resolve, not a crash: one line naming it. */
function portTaken(err: unknown): string | undefined {
  const e = err as { code?: unknown; address?: unknown; port?: unknown; message?: unknown };
  // A worker's bind failure reaches here rebuilt from its message ("bind EADDRINUSE 127.0.0.1:8001").
  const fromMessage = typeof e?.message === 'string' ? /\bEADDRINUSE (\S+)/.exec(e.message)?.[1] : undefined;
  if (e?.code !== 'EADDRINUSE' && fromMessage === undefined) return undefined;
  const host = typeof e.address === 'string' ? (e.address.includes(':') ? `[${e.address}]` : e.address) : '';
  const where = typeof e.port === 'number' ? `${host}:${e.port}` : (fromMessage ?? (host || 'a port'));
  return `hopgate: ${where} is already in use (EADDRINUSE): another hopgate or another program holds it; stop it or choose other ports\n`;
}

dispatch(process.argv.slice(2)).then((code) => {
  // 0 is set, not forced: a help text on a pipe is written out before the process ends.
  if (code === 0) process.exitCode = 0;
  else if (code !== undefined) process.exit(code);
}, (err: unknown) => {
  process.stderr.write(portTaken(err) ?? `hopgate: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
