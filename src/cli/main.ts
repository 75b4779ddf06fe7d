#!/usr/bin/env node
/** `hopgate <command>`: one CLI for every process of the network. */
// Commands load their modules when run, so `hopgate user list` does not start the ingress code.

const USAGE = `usage: hopgate <command> [options]

commands:
  up [--json] [--ports FIRST-LAST] [--workers N]   the whole network on this machine, embedded defaults
  ingress --config FILE [--workers N]              the ingress node from a YAML file
  ingress --control URL --token-file F [--state-dir D]  the ingress node fed by the control plane's config stream
  exit --listen H:P --egress IP --allow-from CIDR  a SOCKS5 relay for ingresses only (secret: --secret-file or HOPGATE_EXIT_SECRET)
       [--egress-ports FIRST-LAST] [--allow-target CIDR] [--admin PORT] [--connect-timeout-ms MS]   (docs/EXITS.md)
       [--link-listen H:P --link-allow FINGERPRINT [--state-dir DIR]]   also accept links (TLS, many tunnels each; its fingerprint is printed at start)
  exit --connect-to H:7443 --id ID [--ca PEM]      a reverse exit: dials the ingress, opens no port (token: --token-file or HOPGATE_EXIT_TOKEN;
                                                   --admin [HOST:]PORT for its /metrics and /healthz)
  ports LOGIN [--config FILE] [--json]             the customer's port → exit table, with live health
  hash-password [PASSWORD]                         print a password hash for a config file (reads stdin if no argument)
  control [--db URL] [--listen H:P] [--state-dir D] the control plane: asset store and REST API (docs/CONTROL.md)
  user add|list|show|suspend|resume|rotate|delete  customers, through the control plane API (--control URL --token T)
  exits add|list|show|drain|undrain|token|delete   the exit inventory (add --reverse: an exit that dials in), through the control plane API
  usage [LOGIN] [--by minute|hour|day|month]       usage per period and exit, through the control plane API
  nodes add|list|token ID                          ingress nodes and their stream tokens, through the control plane API
`;

/** The commands whose help is their lines of USAGE (the admin commands have their own). */
const USAGE_COMMANDS = new Set(['up', 'ingress', 'exit', 'ports', 'hash-password']);

/** `command`'s lines of USAGE (with their continuation lines), as its own usage text. */
function commandUsage(command: string): string {
  const out: string[] = [];
  let inside = false;
  for (const line of USAGE.split('\n')) {
    if (line.startsWith(`  ${command} `)) inside = true;
    else if (!/^ {5,}/.test(line)) inside = false;
    if (inside) out.push(out.length === 0 ? `usage: hopgate ${line.slice(2)}` : line);
  }
  return out.join('\n') + '\n';
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  // Before the command parses its options: `--help` is not an unknown option, nor a password to hash.
  if (command !== undefined && USAGE_COMMANDS.has(command) && rest.some((a) => a === '--help' || a === '-h')) {
    process.stdout.write(commandUsage(command));
    return;
  }
  switch (command) {
    case 'up':
      return (await import('./up.js')).upCommand(rest);
    case 'ingress':
      return (await import('./ingress.js')).ingressCommand(rest);
    case 'exit':
      return (await import('./exit.js')).exitCommand(rest);
    case 'control':
      return (await import('./control.js')).controlCommand(rest);
    case 'user':
      return (await import('./admin-user.js')).userCommand(rest);
    case 'exits':
      return (await import('./admin-exits.js')).exitsCommand(rest);
    case 'usage':
      return (await import('./admin-usage.js')).usageCommand(rest);
    case 'nodes':
      return (await import('./admin-nodes.js')).nodesCommand(rest);
    case 'ports':
      return (await import('./ports.js')).portsCommand(rest);
    case 'hash-password': {
      const pw = rest[0] ?? (await readStdin()).replace(/\r?\n$/, '');
      if (!pw) {
        process.stderr.write('hopgate: hash-password: empty password (give it as the argument or on stdin)\n');
        process.exit(2);
      }
      const { hashPassword } = await import('../shared/auth/password-hash.js');
      process.stdout.write((await hashPassword(pw)) + '\n');
      return;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return;
    default:
      process.stderr.write(`hopgate: unknown command '${command}'\n${USAGE}`);
      process.exit(2);
  }
}

async function readStdin(): Promise<string> {
  let s = '';
  for await (const chunk of process.stdin) s += chunk;
  return s;
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
