import { test } from 'node:test';
import assert from 'node:assert/strict';
import { selectExit, type RouteRequest } from './select-exit.js';
import type { Exit } from '../../shared/exits/exit-index.js';
import { whyCannot, type RouteNeed } from './capabilities.js';
import { IngressConfigSchema, type IngressConfigInput } from '../../shared/schema/ingress-config.js';
import { compileSnapshot } from '../config/snapshot.js';
import { targetKind, type TargetAddress } from '../../protocol/address.js';
import type { UsernameTags } from '../../protocol/username/grammar.js';

const H = '$scrypt$x';
const EXITS: IngressConfigInput['exits'] = [
  { id: 'v4', kind: 'hopgate', host: '10.0.0.1', port: 1080, egressIp: '10.0.0.1', country: 'us' },
  { id: 'dual', kind: 'socks5', host: '10.0.0.2', port: 1080, egressIp: '10.0.0.2', egressIp6: '2001:db8::2', country: 'us' },
  { id: 'v6', kind: 'socks5', host: '10.0.0.3', port: 1080, egressIp: '2001:db8::3', country: 'de' },
  { id: 'rev', kind: 'reverse', tokenHash: H, egressIp: '10.0.0.4', egressIp6: '2001:db8::4', country: 'nl', targets: { allow: ['10.1.0.0/16'], deny: [], ports: [] } },
  { id: 'web', kind: 'http', host: '10.0.0.5', port: 3128, country: 'gb' },
];

function setup(extra: Partial<IngressConfigInput> = {}) {
  const config = IngressConfigSchema.parse({
    listen: { ports: [8000, 8099] },
    tls: { cert: 'unused.pem', key: 'unused.key' }, // reverse exits need one; nothing is read here
    exits: EXITS,
    users: [
      { login: 'all', passwordHash: H },
      { login: 'revonly', passwordHash: H, exits: ['rev'] },
    ],
    ...extra,
  });
  const snap = compileSnapshot(config, 1);
  return (login: string, tags: UsernameTags, need: RouteNeed, port = 8000, usable: (e: Exit) => boolean = () => true, random = Math.random) => {
    const req: RouteRequest = { login, tags, port, nowMs: 0, defaultSessionMinutes: 10, need };
    return selectExit(snap.exits, snap.usersByLogin.get(login)!.route, req, usable, random);
  };
}

const pick = setup();
const t = (host: string, port = 443): TargetAddress => ({ host, port, kind: targetKind(host) });
const code = (c: string, re: RegExp) => (e: Error) => (e as { code?: string }).code === c && re.test(e.message);

/** Every draw from 0 to 1 in 200 steps: the choice function sees every exit position. */
function everyDraw(f: (random: () => number) => string | undefined): Set<string> {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const x = i / 200;
    const id = f(() => x);
    if (id) seen.add(id);
  }
  return seen;
}

test('random choice for UDP never falls on an exit without UDP (HTTP, a reverse exit without links)', () => {
  const ids = everyDraw((r) => pick('all', {}, { udp: true }, 8000, () => true, r)?.exit.id);
  assert.deepEqual([...ids].sort(), ['dual', 'v4', 'v6'], 'no runtime answer: a reverse exit carries no UDP');
  const noLinks = everyDraw((r) => pick('all', {}, { udp: true, reverseUdp: () => false }, 8000, () => true, r)?.exit.id);
  assert.deepEqual([...noLinks].sort(), ['dual', 'v4', 'v6']);
  // Connected over links: the reverse exit carries UDP and is drawn like the others.
  const links = everyDraw((r) => pick('all', {}, { udp: true, reverseUdp: (id) => id === 'rev' }, 8000, () => true, r)?.exit.id);
  assert.deepEqual([...links].sort(), ['dual', 'rev', 'v4', 'v6']);
});

test('random choice for a literal target only falls on exits with that family; names go anywhere', () => {
  assert.deepEqual([...everyDraw((r) => pick('all', {}, { target: t('2001:db8::99') }, 8000, () => true, r)?.exit.id)].sort(), ['dual', 'v6', 'web']);
  assert.deepEqual([...everyDraw((r) => pick('all', {}, { target: t('192.0.2.1') }, 8000, () => true, r)?.exit.id)].sort(), ['dual', 'v4', 'web']);
  // a name is resolved at the exit, which judges the address itself (the reverse exit's networks travel with the request)
  assert.deepEqual([...everyDraw((r) => pick('all', {}, { target: t('example.com') }, 8000, () => true, r)?.exit.id)].sort(), ['dual', 'rev', 'v4', 'v6', 'web']);
  // the reverse exit serves only its networks (10.1.0.0/16): chosen for those, never for others
  assert.ok(everyDraw((r) => pick('all', {}, { target: t('10.1.2.3') }, 8000, () => true, r)?.exit.id).has('rev'));
});

test('sticky sessions and failover stay within the capable exits', () => {
  for (let s = 0; s < 50; s++) {
    const c = pick('all', { session: `s${s}` }, { udp: true, reverseUdp: () => false });
    assert.ok(c && ['v4', 'dual', 'v6'].includes(c.exit.id), `session s${s} got ${c?.exit.id}`);
    const strict = pick('all', { session: `s${s}`, sessionMode: 'strict' }, { target: t('2001:db8::1') });
    assert.ok(strict && ['dual', 'v6', 'web'].includes(strict.exit.id));
  }
  // failover: v6 and dual are down → the IPv6 target goes to the one capable exit left
  assert.equal(pick('all', {}, { target: t('2001:db8::1') }, 8000, (e) => e.id === 'web' || e.id === 'v4')?.exit.id, 'web');
});

test('a pinned exit that cannot serve the request is refused with a precise code', () => {
  // ports: 8001 v4, 8002 dual, 8003 v6, 8004 rev, 8005 web
  assert.throws(() => pick('all', {}, { udp: true, reverseUdp: () => false }, 8004), code('COMMAND_UNSUPPORTED', /port 8004: exit rev carries no UDP \(a reverse exit connected without links/));
  assert.equal(pick('all', {}, { udp: true, reverseUdp: () => true }, 8004)?.exit.id, 'rev', 'over links it does');
  assert.throws(() => pick('all', {}, { udp: true }, 8005), code('COMMAND_UNSUPPORTED', /exit web carries no UDP \(an HTTP proxy\)/));
  assert.throws(() => pick('all', {}, { target: t('::1') }, 8001), code('FAMILY_UNSUPPORTED', /port 8001: exit v4 has no IPv6 egress, and ::1 is IPv6/));
  assert.throws(() => pick('all', {}, { target: t('127.0.0.1') }, 8003), code('FAMILY_UNSUPPORTED', /exit v6 has no IPv4 egress/));
  assert.throws(() => pick('all', { exitIp: '10.0.0.1' }, { target: t('2001:db8::1') }), code('FAMILY_UNSUPPORTED', /exit 10\.0\.0\.1: exit v4 has no IPv6 egress/));
  assert.throws(() => pick('all', {}, { target: t('192.0.2.1') }, 8004), code('TARGET_FORBIDDEN', /exit rev takes no requests for 192\.0\.2\.1/));
  // what it can serve still goes through, pinned
  assert.equal(pick('all', {}, { target: t('::1') }, 8002)?.exit.id, 'dual');
  assert.equal(pick('all', { exitIp: '2001:db8::2' }, { target: t('::1') })?.exit.id, 'dual', 'the IPv6 egress address pins too');
});

test('when no exit of the customer can serve the request, the refusal names why', () => {
  assert.throws(() => pick('revonly', {}, { udp: true, reverseUdp: () => false }), code('COMMAND_UNSUPPORTED', /none of your 1 exit in any place carries UDP/));
  assert.equal(pick('revonly', {}, { udp: true, reverseUdp: () => true })?.exit.id, 'rev');
  assert.throws(() => pick('all', { country: 'us' }, { target: t('2001:db8::1') }, 8000, (e) => e.id !== 'dual'), code('EXIT_UNREACHABLE', /down or failed/));
  assert.throws(() => pick('all', { country: 'de' }, { target: t('192.0.2.1') }), code('FAMILY_UNSUPPORTED', /none of your 1 exit in country de has IPv4 egress \(target 192\.0\.2\.1\)/));
});

test('whyCannot: an exit declaring no egress address is asked for either family; IPv4-mapped IPv6 is IPv4', () => {
  const e = { ord: 0, id: 'x', seed: 0, place: {}, config: IngressConfigSchema.parse({ exits: [{ id: 'x', host: 'h', port: 1 }] }).exits[0]! } as Exit;
  assert.equal(whyCannot(e, { target: t('2001:db8::1') }), undefined);
  assert.equal(whyCannot(e, { target: t('192.0.2.1') }), undefined);
  assert.equal(whyCannot(pickExit('v4'), { target: t('::ffff:192.0.2.1') }), undefined);
});

function pickExit(id: string): Exit {
  const snap = compileSnapshot(IngressConfigSchema.parse({ exits: EXITS, tls: { cert: 'unused.pem', key: 'unused.key' } }), 1);
  return snap.exits.byIdOf(id)!;
}
