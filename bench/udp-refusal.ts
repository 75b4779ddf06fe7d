/**
 * What refusing one UDP datagram at the ingress costs: a reverse exit's `targets:`
 * (a port it takes no requests for) and the ingress's policy on a literal target,
 * each judged the old way (a ProxyError thrown and caught per datagram) and as a
 * returned reason (reverseTargetRefusal, unresolvedTargetRefusal). Prints the median
 * of 5 runs of process CPU per datagram, ns.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/udp-refusal.js [--datagrams 200000]
 */
import { parseArgs } from 'node:util';
import { checkReverseTargets, reverseTargetRefusal } from '../src/ingress/reverse/dial-reverse.js';
import { checkUnresolvedTarget, unresolvedTargetRefusal } from '../src/shared/net/resolve-allowed.js';
import { TargetPolicy } from '../src/shared/net/target-policy.js';
import { ReverseExitSchema } from '../src/shared/schema/ingress-config.js';
import type { TargetAddress } from '../src/protocol/address.js';

const { values: opt } = parseArgs({ options: { datagrams: { type: 'string', default: '200000' } } });
const N = Number(opt.datagrams);
const exit = ReverseExitSchema.parse({ id: 'rv', kind: 'reverse', tokenHash: '$scrypt$x', targets: { allow: ['127.0.0.0/8'], deny: [], ports: [53] } });
const policy = new TargetPolicy({ allow: ['127.0.0.0/8'], deny: [], ports: [] });
const refusedByExit: TargetAddress = { host: '127.0.0.1', port: 54, kind: 'ipv4' };
const refusedByPolicy: TargetAddress = { host: '10.0.0.1', port: 53, kind: 'ipv4' };
let refused = 0;

const ways: Record<string, () => void> = {
  "reverse exit's targets: throw+catch": () => {
    try {
      checkReverseTargets(exit, refusedByExit);
    } catch {
      refused++;
    }
  },
  "reverse exit's targets: value": () => {
    if (reverseTargetRefusal(exit, refusedByExit) !== undefined) refused++;
  },
  'ingress policy: throw+catch': () => {
    try {
      checkUnresolvedTarget(refusedByPolicy, policy);
    } catch {
      refused++;
    }
  },
  'ingress policy: value': () => {
    if (unresolvedTargetRefusal(refusedByPolicy, policy) !== undefined) refused++;
  },
};

for (const [name, fn] of Object.entries(ways)) {
  for (let i = 0; i < 20_000; i++) fn(); // warm-up
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < N; i++) fn();
    const c = process.cpuUsage(c0);
    runs.push(((c.user + c.system) * 1000) / N);
  }
  runs.sort((a, b) => a - b);
  console.log(`${name.padEnd(36)} ${runs[2]!.toFixed(0).padStart(6)} ns CPU per refused datagram (runs ${runs.map((x) => x.toFixed(0)).join(' ')})`);
}
if (refused !== 4 * (20_000 + 5 * N)) throw new Error(`every datagram should be refused: ${refused}`);
