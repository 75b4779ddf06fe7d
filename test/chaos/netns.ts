/**
 * The chaos lab's network: a "hub" namespace holding a bridge (10.77.N.1,
 * where the clients, the targets and the harness itself run) and one
 * namespace per node, joined to the bridge by a veth pair, each with its own
 * address 10.77.N.x. Names carry a per-run tag; destroy() deletes every
 * namespace (taking the veths with them) and is safe to call twice.
 */
import { execFileSync, spawnSync } from 'node:child_process';

export interface Lab {
  readonly tag: string;
  readonly hub: string;
  readonly subnet: string;
  readonly hubIp: string;
  readonly nodes: Record<string, { ns: string; ip: string; dev: string }>;
}

const sh = (args: string[]): void => {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
};

/** Why the lab cannot be built here, or undefined. */
export function labUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux network namespaces';
  if (process.getuid?.() !== 0) return 'needs root (ip netns, veth, bridge, mount namespaces)';
  if (spawnSync('ip', ['netns', 'list']).status !== 0) return 'cannot use `ip netns` here';
  if (spawnSync('sh', ['-c', 'command -v unshare && command -v nsenter']).status !== 0) return 'needs util-linux unshare and nsenter';
  return undefined;
}

export function createLab(names: Record<string, number>): Lab {
  const n = 20 + (process.pid % 200);
  const tag = `hc${process.pid % 100000}`;
  const lab: Lab = { tag, hub: `${tag}-hub`, subnet: `10.77.${n}.0/24`, hubIp: `10.77.${n}.1`, nodes: {} };
  try {
    sh(['netns', 'add', lab.hub]);
    sh(['-n', lab.hub, 'link', 'set', 'lo', 'up']);
    sh(['-n', lab.hub, 'link', 'add', 'br0', 'type', 'bridge']);
    sh(['-n', lab.hub, 'addr', 'add', `${lab.hubIp}/24`, 'dev', 'br0']);
    sh(['-n', lab.hub, 'link', 'set', 'br0', 'up']);
    for (const [name, host] of Object.entries(names)) {
      const ns = `${tag}-${name}`;
      const dev = `${tag}${name}`.slice(0, 13);
      const ip = `10.77.${n}.${host}`;
      sh(['netns', 'add', ns]);
      lab.nodes[name] = { ns, ip, dev };
      sh(['link', 'add', dev, 'type', 'veth', 'peer', 'name', `${dev}b`]);
      sh(['link', 'set', dev, 'netns', ns]);
      sh(['link', 'set', `${dev}b`, 'netns', lab.hub]);
      sh(['-n', lab.hub, 'link', 'set', `${dev}b`, 'master', 'br0']);
      sh(['-n', lab.hub, 'link', 'set', `${dev}b`, 'up']);
      sh(['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', dev]);
      sh(['-n', ns, 'link', 'set', dev, 'up']);
      sh(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
  } catch (err) {
    destroyLab(lab);
    throw err;
  }
  return lab;
}

export function destroyLab(lab: Lab): void {
  for (const { ns } of Object.values(lab.nodes)) spawnSync('ip', ['netns', 'del', ns]);
  spawnSync('ip', ['netns', 'del', lab.hub]);
}

/**
 * Blackhole: inside the node's namespace only, routes that silently drop every
 * packet it sends to these addresses (no nftables/netem on this machine;
 * nothing answers, so peers see timeouts, not resets).
 */
export function blackhole(lab: Lab, node: string, to: readonly string[], on: boolean): void {
  const { ns } = lab.nodes[node]!;
  for (const ip of to) sh(['-n', ns, 'route', on ? 'add' : 'del', 'blackhole', `${ip}/32`]);
}
