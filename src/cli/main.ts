#!/usr/bin/env node
/** `hopgate <command>`: one CLI for every process of the network. */
import { COMMANDS, USAGE, asksForHelp } from './commands.js';
import { fail } from './args.js';

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') return void process.stdout.write(USAGE);
  if (name === 'help') {
    const about = rest[0] === undefined ? undefined : COMMANDS.find((c) => c.name === rest[0]);
    if (rest[0] !== undefined && !about) fail(`help: unknown command '${rest[0]}' (commands: ${COMMANDS.map((c) => c.name).join(', ')})`);
    return void process.stdout.write(about ? await about.usage() : USAGE);
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`hopgate: unknown command '${name}'\n${USAGE}`);
    process.exit(2);
  }
  // Before the command parses its options: `--help` is not an unknown option, nor a password to hash.
  if (asksForHelp(rest)) return void process.stdout.write(await command.usage());
  return command.run(rest);
}

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

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(portTaken(err) ?? `hopgate: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
