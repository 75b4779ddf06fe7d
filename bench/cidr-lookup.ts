/**
 * Longest-prefix-match lookups of the CIDR matcher (src/shared/cidr.ts), the
 * per-connection path of source checks and legitimacy enforcement: N random
 * prefixes (IPv4 /8../32, IPv6 /16../128, a few IPv4-mapped), then M lookups
 * of addresses as text (what a socket reports) and, for IPv4, as numbers.
 * Prints ns per lookup. Deterministic (fixed seed).
 *
 *   npx tsc -p tsconfig.json && node dist/bench/cidr-lookup.js [--prefixes 1000] [--lookups 1000000]
 */
import { parseArgs } from 'node:util';
import { CidrTable } from '../src/shared/cidr.js';
import { CidrSet } from '../src/shared/net-addr.js';

const { values: opt } = parseArgs({ options: { prefixes: { type: 'string', default: '1000' }, lookups: { type: 'string', default: '1000000' } } });
const N = Number(opt.prefixes);
const M = Number(opt.lookups);

let seed = 42;
function rnd(): number {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed;
}
const v4 = (x: number): string => `${x >>> 24}.${(x >>> 16) & 255}.${(x >>> 8) & 255}.${x & 255}`;
const v6 = (): string => `2001:db8:${(rnd() & 0xffff).toString(16)}:${(rnd() & 0xffff).toString(16)}::${(rnd() & 0xffff).toString(16)}`;

const cidrs: string[] = [];
for (let i = 0; i < N; i++) {
  const k = i % 10;
  if (k < 7) cidrs.push(`${v4(rnd())}/${8 + (rnd() % 25)}`);
  else if (k < 9) cidrs.push(`${v6()}/${16 + (rnd() % 113)}`);
  else cidrs.push(`::ffff:${v4(rnd())}/${104 + (rnd() % 25)}`);
}
// lookups: half inside some prefix's /8 neighbourhood, 10 % IPv6, 5 % mapped
const texts: string[] = [];
const nums: number[] = [];
for (let i = 0; i < 4096; i++) {
  const k = i % 20;
  const x = rnd();
  nums.push(x);
  if (k < 2) texts.push(v6());
  else if (k < 3) texts.push(`::ffff:${v4(x)}`);
  else texts.push(v4(x));
}

function time(label: string, f: (i: number) => unknown): void {
  for (let i = 0; i < 100_000; i++) f(i); // warm up
  let hits = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < M; i++) if (f(i) !== undefined && f !== undefined) hits++;
  const ns = Number(process.hrtime.bigint() - t0) / M;
  console.log(`${label.padEnd(40)} ${ns.toFixed(1).padStart(8)} ns/lookup  (${N} prefixes, ${M} lookups, ${hits} non-undefined)`);
}

const table = new CidrTable<number>();
cidrs.forEach((c, i) => table.add(c, i));
const set = new CidrSet(cidrs);
time('CidrTable.lookupText (text)', (i) => table.lookupText(texts[i & 4095]!));
const v4texts = nums.map((x) => v4(x >>> 0));
time('CidrTable.lookupText (IPv4 text only)', (i) => table.lookupText(v4texts[i & 4095]!));
time('CidrTable.lookupV4 (number)', (i) => table.lookupV4(nums[i & 4095]! >>> 0));
time('CidrSet.hasText (text)', (i) => (set.hasText(texts[i & 4095]!) ? 1 : undefined));
