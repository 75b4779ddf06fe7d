/**
 * Every `hopgate` command, in one table: its usage text and how to run it.
 * main.ts dispatches through it and answers `--help`/`-h` from it before a
 * command sees its arguments, so no command can act on `--help` (or call it
 * an unknown option). test/integration/cli-help.test.ts walks this table.
 * Commands load their modules when run, so `hopgate user list` does not start the ingress code.
 */
import type { CliOutput } from './output.js';

export const USAGE = `usage: hopgate <command> [options]      (hopgate <command> --help, or hopgate help <command>: its usage)

commands:
  up [--json] [--ports FIRST-LAST] [--host H] [--workers N] [--state-dir D]   the whole network on this machine, embedded defaults
       [--demo-port P] [--admin-port P] [--control-port P] [--exit-port P] [--exit-link-port P] [--tunnel-port P]
  ingress --config FILE [--workers N]              the ingress node from a YAML file
  ingress --control URL --token-file F [--state-dir D] [--workers N] [--admin [HOST:]PORT] [--admin-url URL]
                                                   the ingress node fed by the control plane's config stream
  exit --listen H:P --egress IP --allow-from CIDR  a SOCKS5 relay for ingresses only (secret: --secret-file or HOPGATE_EXIT_SECRET)
       [--egress6 IPV6] [--egress-ports FIRST-LAST] [--allow-target CIDR] [--admin PORT] [--connect-timeout-ms MS] [--drain-ms MS]   (docs/EXITS.md)
       [--link-listen H:P --link-allow FINGERPRINT [--state-dir DIR]]   also accept links (TLS, many tunnels each; its fingerprint is printed at start)
       [--control URL --link-token-file F [--link-keys-every-ms MS]]   read the ingresses' link pins from the control plane instead
  exit --connect-to H:7443 --id ID [--ca PEM]      a reverse exit: dials the ingress, opens no port (token: --token-file or HOPGATE_EXIT_TOKEN;
       [--servername N] [--links N | --work-connections [--pool N]] [--state-dir DIR [--link-keys-every-ms MS]] [--egress IP] [--egress6 IPV6] [--egress-ports FIRST-LAST] [--allow-target CIDR]...
       [--deny-target CIDR]... [--allow-port P]... [--drain-ms MS] [--log-level L]
                                                   --admin [HOST:]PORT for its /metrics and /healthz; docs/REVERSE-EXITS.md)
  ports LOGIN [--config FILE] [--admin URL] [--json]  the customer's port → exit table, with live health
  link-key show|next|promote --dir DIR             this node's link key: stage a next one, promote it (a rotation without a gap; docs/EXITS.md)
  hash-password [PASSWORD]                         print a password hash for a config file (reads stdin if no argument;
                                                   a password that starts with '-' goes after --: hash-password -- -secret)
  control [--db URL] [--listen H:P] [--state-dir D] the control plane: asset store and REST API (docs/CONTROL.md)
  user add|list|show|suspend|resume|rotate|delete  customers, through the control plane API (--control URL --token T)
  exits add|list|show|health|drain|undrain|token|link|link-key|link-token|link-pins|delete
                                                   the exit inventory (add --reverse: an exit that dials in), through the control plane API
  usage [LOGIN] [--by minute|hour|day|month]       usage per period and exit, through the control plane API
  usage domains CUSTOMER [--period 24h] [--limit N]  the customer's top target domains by bytes
  logins CUSTOMER [--by hour] [--range 48h]        the customer's logins, ok/failed by source prefix and period
  nodes add|list|token|delete [ID]                 ingress nodes and their stream tokens, through the control plane API
  webhooks add|list|delete|deliveries|redeliver    events to outside systems (signed webhooks), through the control plane API
  help [COMMAND]                                   this text, or one command's usage
`;

export interface Command {
  readonly name: string;
  /** Subcommands (`user add`…): each answers `--help` too. */
  readonly subcommands: readonly string[];
  /** The usage text `hopgate NAME [ARGS] --help` prints (starts with `usage: hopgate NAME`); ARGS name a subcommand with its own usage. */
  usage(argv?: readonly string[]): Promise<string>;
  /** Admin commands write through `out` (tests capture it); servers log on their own. */
  run(argv: string[], out: CliOutput): Promise<void>;
}

/** `command`'s lines of USAGE (with their continuation lines), as its own usage text. */
export function usageLines(command: string): string {
  const out: string[] = [];
  let inside = false;
  for (const line of USAGE.split('\n')) {
    if (line.startsWith(`  ${command} `)) inside = true;
    else if (!/^ {5,}/.test(line)) inside = false;
    if (inside) out.push(out.length === 0 ? `usage: hopgate ${line.slice(2)}` : line);
  }
  return out.join('\n') + '\n';
}

const fromUsage = (name: string) => (): Promise<string> => Promise.resolve(usageLines(name));

export const COMMANDS: readonly Command[] = [
  { name: 'up', subcommands: [], usage: fromUsage('up'), run: async (argv) => (await import('./up.js')).upCommand(argv) },
  { name: 'ingress', subcommands: [], usage: fromUsage('ingress'), run: async (argv) => (await import('./ingress.js')).ingressCommand(argv) },
  { name: 'exit', subcommands: [], usage: fromUsage('exit'), run: async (argv) => (await import('./exit.js')).exitCommand(argv) },
  { name: 'ports', subcommands: [], usage: fromUsage('ports'), run: async (argv) => (await import('./ports.js')).portsCommand(argv) },
  { name: 'link-key', subcommands: ['show', 'next', 'promote'], usage: async () => (await import('./link-key.js')).LINK_KEY_USAGE, run: async (argv, out) => (await import('./link-key.js')).linkKeyCommand(argv, out) },
  { name: 'hash-password', subcommands: [], usage: fromUsage('hash-password'), run: async (argv) => (await import('./hash-password.js')).hashPasswordCommand(argv) },
  { name: 'control', subcommands: [], usage: async () => (await import('./control-usage.js')).CONTROL_USAGE, run: async (argv) => (await import('./control.js')).controlCommand(argv) },
  {
    name: 'user',
    subcommands: ['add', 'list', 'show', 'suspend', 'resume', 'rotate', 'delete'],
    usage: async () => (await import('./admin-user.js')).USER_USAGE,
    run: async (argv, out) => (await import('./admin-user.js')).userCommand(argv, out),
  },
  {
    name: 'exits',
    subcommands: ['add', 'list', 'show', 'health', 'drain', 'undrain', 'token', 'link', 'link-key', 'link-token', 'link-pins', 'delete'],
    usage: async () => (await import('./admin-exits.js')).EXITS_USAGE,
    run: async (argv, out) => (await import('./admin-exits.js')).exitsCommand(argv, out),
  },
  { name: 'usage', subcommands: ['domains'], usage: async (argv) => (await import('./admin-usage.js')).usageHelp(argv ?? []), run: async (argv, out) => (await import('./admin-usage.js')).usageCommand(argv, out) },
  { name: 'logins', subcommands: [], usage: async () => (await import('./admin-login-domain.js')).LOGINS_USAGE, run: async (argv, out) => (await import('./admin-login-domain.js')).loginsCommand(argv, out) },
  {
    name: 'nodes',
    subcommands: ['add', 'list', 'token', 'delete'],
    usage: async () => (await import('./admin-nodes.js')).NODES_USAGE,
    run: async (argv, out) => (await import('./admin-nodes.js')).nodesCommand(argv, out),
  },
  {
    name: 'webhooks',
    subcommands: ['add', 'list', 'delete', 'deliveries', 'redeliver'],
    usage: async () => (await import('./admin-webhooks.js')).WEBHOOKS_USAGE,
    run: async (argv, out) => (await import('./admin-webhooks.js')).webhooksCommand(argv, out),
  },
];

/** Asks for help: `--help` or `-h` anywhere before a `--` (after it, arguments are data: `hash-password -- --help`). */
export function asksForHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h');
}
