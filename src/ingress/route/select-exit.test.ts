import { test } from 'node:test';
import assert from 'node:assert/strict';
import { selectExit, type RouteRequest } from './select-exit.js';
import { ExitHealth } from './exit-health.js';
import { ExitIndex, type Exit } from '../../shared/exits/exit-index.js';
import { RouteCompiler } from '../../shared/routing/customer-routes.js';
import { slotForPort } from '../../shared/routing/port-map.js';
import { sessionWindowEnd, hashString } from '../../shared/exits/rendezvous.js';
import { IngressConfigSchema, type IngressConfigInput } from '../../shared/schema/ingress-config.js';
import { compileSnapshot } from '../config/snapshot.js';
import type { UsernameTags } from '../../protocol/username/grammar.js';

const EXITS = [
  { id: 'us-1', host: '10.0.0.1', port: 1080, egressIp: '10.0.0.1', country: 'us', city: 'New York' },
  { id: 'us-2', host: '10.0.0.2', port: 1080, egressIp: '10.0.0.2', country: 'us', city: 'New York' },
  { id: 'us-3', host: '10.0.0.3', port: 1080, egressIp: '10.0.0.3', country: 'us', city: 'Dallas' },
  { id: 'de-1', host: '10.0.0.4', port: 1080, egressIp: '10.0.0.4', country: 'de' },
  { id: 'de-2', host: '10.0.0.5', port: 1080, egressIp: '10.0.0.5', country: 'de' },
  { id: 'gb-1', host: '10.0.0.6', port: 1080, egressIp: '10.0.0.6', country: 'gb' },
];

function setup(users: IngressConfigInput['users'], extra: Partial<IngressConfigInput> = {}) {
  const config = IngressConfigSchema.parse({ listen: { ports: [8000, 8099] }, exits: EXITS, users, ...extra });
  const snap = compileSnapshot(config, 1);
  const route = (login: string) => snap.usersByLogin.get(login)!.route;
  const pick = (login: string, tags: UsernameTags, port = 8000, usable: (e: Exit) => boolean = () => true, nowMs = 0, random = Math.random) => {
    const req: RouteRequest = { login, tags, port, nowMs, defaultSessionMinutes: 10 };
    return selectExit(snap.exits, route(login), req, usable, random);
  };
  return { snap, route, pick };
}

const H = '$scrypt$x';
const { pick, route } = setup([
  { login: 'all', passwordHash: H },
  { login: 'bob', passwordHash: H, exits: ['de-2', 'us-1', 'us-3'] },
  { login: 'pool', passwordHash: H, exits: ['gb-1'], pools: [{ country: 'us' }] },
  { login: 'places', passwordHash: H, portScheme: 'place', places: ['us', 'de'] },
  { login: 'own', passwordHash: H, exits: ['us-1'], portBase: 9000 },
]);

test('precedence 1: exitip pins the exit, and only an exit of the customer', () => {
  const c = pick('bob', { exitIp: '10.0.0.3' }, 8001);
  assert.deepEqual([c?.exit.id, c?.pinned, c?.reason], ['us-3', true, 'exitip']);
  assert.throws(() => pick('bob', { exitIp: '10.0.0.2' }), (e: Error) => /no exit of yours has egress IP 10\.0\.0\.2/.test(e.message) && (e as { code?: string }).code === 'NO_EXIT_MATCH');
  assert.throws(() => pick('all', { exitIp: '10.9.9.9' }), /no exit of yours/);
  // a pin that contradicts the place asked for is refused, not silently honoured
  assert.throws(() => pick('bob', { exitIp: '10.0.0.3', country: 'de' }), /exit us-3 \(10\.0\.0\.3\) is in city dallas, country us, not country de/);
});

test('precedence 2-3: the port named or used maps to the i-th exit of the ordered list', () => {
  assert.equal(pick('bob', {}, 8001)?.exit.id, 'de-2');
  assert.equal(pick('bob', {}, 8002)?.exit.id, 'us-1');
  assert.equal(pick('bob', {}, 8003)?.exit.id, 'us-3');
  assert.equal(pick('bob', { port: 8002 }, 8001)?.exit.id, 'us-1', 'a named port beats the connection port');
  assert.equal(pick('bob', { index: 3 }, 8001)?.exit.id, 'us-3');
  assert.equal(pick('bob', { index: 3 }, 8001)?.reason, 'index');
  assert.throws(() => pick('bob', {}, 8004), /port 8004 is not one of yours: 8000 is random, 8001-8003 are your 3 exits/);
  assert.throws(() => pick('bob', { index: 4 }), /index 4: you have 3 exits/);
  // One exit reads as one, not "8001 are your 1 exits".
  assert.throws(() => pick('own', {}, 9002), /port 9002 is not one of yours: 9000 is random, 9001 is your exit$/);
  // With a place tag a numbered port counts within the matching exits: bob's 1st US exit is us-1 (his 2nd overall).
  assert.equal(pick('bob', { country: 'us' }, 8001)?.exit.id, 'us-1');
  assert.equal(pick('bob', { country: 'us' }, 8002)?.exit.id, 'us-3');
  assert.equal(pick('bob', { country: 'de', index: 1 }, 8003)?.exit.id, 'de-2');
  assert.throws(() => pick('bob', { country: 'us' }, 8003), /port 8003: you have 2 exits in country us/);
  assert.throws(() => pick('bob', { country: 'de', index: 2 }), /index 2: you have 1 exit in country de/);
  assert.equal(pick('own', {}, 9001)?.exit.id, 'us-1', 'per-customer port base');
  assert.throws(() => pick('own', {}, 8000), /below your port base 9000/);
});

test('precedence 4: base port is random among the customer exits matching the tags', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) seen.add(pick('bob', {})!.exit.id);
  assert.deepEqual([...seen].sort(), ['de-2', 'us-1', 'us-3']);
  const us = new Set<string>();
  for (let i = 0; i < 200; i++) us.add(pick('bob', { country: 'us' })!.exit.id);
  assert.deepEqual([...us].sort(), ['us-1', 'us-3']);
  assert.equal(pick('all', { city: 'new_york', country: 'us' }, 8000, (e) => e.id !== 'us-1')?.exit.id, 'us-2');
  assert.throws(() => pick('bob', { country: 'gb' }), /none of your 3 exits is in country gb/);
});

test('pools append matching exits after the explicit list, in configuration order', () => {
  const r = route('pool');
  assert.deepEqual([0, 1, 2, 3].map((i) => r.exits.at(i)?.id), ['gb-1', 'us-1', 'us-2', 'us-3']);
  assert.equal(pick('pool', {}, 8002)?.exit.id, 'us-1');
  assert.throws(() => pick('pool', { country: 'de' }), /none of your 4 exits is in country de/);
});

test('place scheme: base + k·stride is country k, + i its i-th exit', () => {
  const r = route('places');
  assert.deepEqual(slotForPort(r, 8000), { kind: 'random' });
  assert.deepEqual(slotForPort(r, 8006), { kind: 'index', index: 6 });
  assert.deepEqual(slotForPort(r, 8100), { kind: 'place', country: 'us', index: 0 });
  assert.deepEqual(slotForPort(r, 8202), { kind: 'place', country: 'de', index: 2 });
  assert.equal(slotForPort(r, 8300).kind, 'none');
  assert.equal(pick('places', {}, 8202)?.exit.id, 'de-2');
  assert.equal(pick('places', {}, 8103)?.exit.id, 'us-3');
  const us = new Set<string>();
  for (let i = 0; i < 100; i++) us.add(pick('places', {}, 8100)!.exit.id);
  assert.deepEqual([...us].sort(), ['us-1', 'us-2', 'us-3']);
  assert.throws(() => pick('places', {}, 8104), /port 8104: you have 3 exits in country us/);
  assert.throws(() => pick('places', { country: 'de' }, 8100), /port 8100 is country us, but the username asks for country de/);
});

test('a dead exit behind a port is replaced from the same place, alike everywhere, and comes back', () => {
  const down = new Set(['us-1']);
  const usable = (e: Exit) => !down.has(e.id);
  const c = pick('all', {}, 8001, usable);
  assert.deepEqual([c?.exit.id, c?.reason], ['us-2', 'replacement'], 'us-1 (new_york) → us-2, the only other exit in new_york');
  down.add('us-2');
  assert.equal(pick('all', {}, 8001, usable)?.exit.id, 'us-3', 'no other exit in new_york: the same country (dallas)');
  down.add('us-3');
  const any = pick('all', {}, 8001, usable)!;
  assert.ok(['de-1', 'de-2', 'gb-1'].includes(any.exit.id) && any.reason === 'replacement', `then any exit of the customer (${any.exit.id})`);
  assert.throws(() => pick('all', { country: 'us' }, 8001, usable), /exit us-1 behind port 8001 is down and none of your other exits in country us can take over/, 'never outside the place the username asks for');
  // de-1 behind 8004: the stand-in is de-2, and the same on every call (no randomness)
  const r = new Set(Array.from({ length: 20 }, () => pick('all', {}, 8004, (e) => e.id !== 'de-1')!.exit.id));
  assert.deepEqual([...r], ['de-2']);
  down.clear();
  assert.equal(pick('all', {}, 8001, usable)?.exit.id, 'us-1', 'back to the original when it recovers');
});

test('random choices never pick an unusable exit; none usable is a clear error', () => {
  for (let i = 0; i < 50; i++) assert.notEqual(pick('all', { country: 'us' }, 8000, (e) => e.id !== 'us-2')!.exit.id, 'us-2');
  assert.throws(() => pick('all', { country: 'de' }, 8000, () => false), (e: Error) => (e as { code?: string }).code === 'EXIT_UNREACHABLE' && /all 2 of your exits in country de are down/.test(e.message));
});

test('sticky sessions: same exit for the same session within its window, new exit after it, spread across sessions', () => {
  const t0 = 1_700_000_000_000;
  const a = pick('all', { session: 'abc', sessionMinutes: 10 }, 8000, undefined, t0)!;
  assert.equal(a.reason, 'sticky');
  for (let i = 0; i < 20; i++) assert.equal(pick('all', { session: 'abc', sessionMinutes: 10 }, 8000, undefined, t0)!.exit.id, a.exit.id);
  const end = sessionWindowEnd(hashString('all\0abc'), 10, t0);
  assert.ok(end > t0 && end <= t0 + 600_000, 'the window ends within sesstime');
  assert.equal(pick('all', { session: 'abc', sessionMinutes: 10 }, 8000, undefined, end - 1)!.exit.id, a.exit.id);
  // over many windows the exit changes (6 exits: staying 12 times in a row is ~1e-9)
  const later = new Set(Array.from({ length: 12 }, (_, k) => pick('all', { session: 'abc', sessionMinutes: 10 }, 8000, undefined, end + k * 600_000)!.exit.id));
  assert.ok(later.size > 1, `exit changes across windows (${[...later].join(', ')})`);
  // different sessions spread over the exits
  const spread = new Set(Array.from({ length: 60 }, (_, k) => pick('all', { session: `s${k}` }, 8000, undefined, t0)!.exit.id));
  assert.ok(spread.size >= 5, `sessions spread (${spread.size} exits)`);
  // another customer with the same session id is independent of this one (keys include the login)
  assert.equal(pick('all', { session: 'abc', country: 'de' }, 8000, undefined, t0)!.exit.country, 'de');
});

test('sticky soft moves off a dead exit (to the same next choice everywhere); strict fails', () => {
  const t0 = 1_700_000_000_000;
  const first = pick('all', { session: 'z9' }, 8000, undefined, t0)!.exit.id;
  const moved = pick('all', { session: 'z9' }, 8000, (e) => e.id !== first, t0)!;
  assert.notEqual(moved.exit.id, first);
  assert.equal(pick('all', { session: 'z9' }, 8000, (e) => e.id !== first, t0)!.exit.id, moved.exit.id);
  const strict = pick('all', { session: 'z9', sessionMode: 'strict' }, 8000, undefined, t0)!;
  assert.deepEqual([strict.exit.id, strict.pinned], [first, true]);
  assert.throws(() => pick('all', { session: 'z9', sessionMode: 'strict' }, 8000, (e) => e.id !== first, t0), /session z9's exit .* is down \(sessmode strict\)/);
});

test('routing off when the ingress port is ephemeral; no exits means direct unless a place is asked', () => {
  const cfg = IngressConfigSchema.parse({ listen: { ports: [0, 0] }, exits: EXITS, users: [{ login: 'a', passwordHash: H, exits: ['de-1'] }] });
  const snap = compileSnapshot(cfg, 1);
  const r = snap.usersByLogin.get('a')!.route;
  assert.equal(selectExit(snap.exits, r, { login: 'a', tags: {}, port: 41234, nowMs: 0, defaultSessionMinutes: 10 })?.exit.id, 'de-1');
  assert.throws(() => selectExit(snap.exits, r, { login: 'a', tags: { port: 8001 }, port: 41234, nowMs: 0, defaultSessionMinutes: 10 }), /port routing is not configured/);
  const none = compileSnapshot(IngressConfigSchema.parse({ users: [{ login: 'a', passwordHash: H }] }), 1);
  const nr = none.usersByLogin.get('a')!.route;
  assert.equal(selectExit(none.exits, nr, { login: 'a', tags: {}, port: 8000, nowMs: 0, defaultSessionMinutes: 10 }), undefined);
  assert.throws(() => selectExit(none.exits, nr, { login: 'a', tags: { country: 'us' }, port: 8000, nowMs: 0, defaultSessionMinutes: 10 }), /no exits/);
});

test('configuration errors: duplicate ids or egress IPs, unknown exits in a customer list', () => {
  assert.throws(() => new ExitIndex(IngressConfigSchema.parse({ exits: [EXITS[0], EXITS[0]] }).exits), /appears twice/);
  assert.throws(() => new ExitIndex(IngressConfigSchema.parse({ exits: [EXITS[0], { ...EXITS[1], egressIp: '10.0.0.1' }] }).exits), /egressIp 10\.0\.0\.1 appears twice/);
  const cfg = IngressConfigSchema.parse({ exits: EXITS, users: [{ login: 'a', passwordHash: H, exits: ['nope'] }] });
  assert.throws(() => compileSnapshot(cfg, 1), /users: 'a' lists exit 'nope', which is not configured/);
});

test('customers with the same exits share one compiled set; a rebuild reuses unchanged customers', () => {
  const cfg = IngressConfigSchema.parse({ exits: EXITS, users: [{ login: 'a', passwordHash: H, exits: ['de-1', 'us-1'] }, { login: 'b', passwordHash: H, exits: ['de-1', 'us-1'] }] });
  const compiler = new RouteCompiler(new ExitIndex(cfg.exits), cfg);
  assert.equal(compiler.compile(cfg.users[0]!).exits, compiler.compile(cfg.users[1]!).exits);
  const s1 = compileSnapshot(cfg, 1);
  const changed = { ...cfg, users: [cfg.users[0]!, { ...cfg.users[1]!, exits: ['gb-1'] }] };
  const s2 = compileSnapshot(changed, 2, s1);
  assert.equal(s2.usersByLogin.get('a'), s1.usersByLogin.get('a'), 'unchanged customer reused');
  assert.equal(s2.usersByLogin.get('b')!.route.exits.at(0)?.id, 'gb-1');
  assert.equal(s2.exits, s1.exits, 'exit index reused when exits did not change');
});

test('health: a failure takes an exit out with doubling back-off; success restores it', () => {
  let now = 1000;
  const h = new ExitHealth(() => now);
  h.failed('x');
  assert.equal(h.isUp('x'), false);
  now += 2000;
  assert.equal(h.isUp('x'), true);
  h.failed('x'); // second failure: 4 s
  now += 3000;
  assert.equal(h.isUp('x'), false);
  h.succeeded('x');
  assert.equal(h.isUp('x'), true);
  h.failed('y');
  h.retain(new Set(['x']));
  assert.equal(h.isUp('y'), true);
});

/** The same exits with some drained, as the control plane renders a drain. */
function drainedSetup(drained: readonly string[]) {
  return setup(
    [
      { login: 'all', passwordHash: H },
      { login: 'bob', passwordHash: H, exits: ['de-2', 'us-1', 'us-3', 'gb-1'] },
    ],
    { exits: EXITS.map((e) => (drained.includes(e.id) ? { ...e, drain: true } : e)) },
  );
}

test('stable ports: draining an exit moves no other port; its own port gets a deterministic replacement', () => {
  const before = drainedSetup([]);
  const after = drainedSetup(['us-1']);
  for (const login of ['all', 'bob']) {
    const n = before.route(login).exits.size;
    assert.equal(after.route(login).exits.size, n, 'the drained exit keeps its place in the list');
    for (let port = 8001; port <= 8000 + n; port++) {
      const was = before.pick(login, {}, port)!;
      const now = after.pick(login, {}, port)!;
      if (was.exit.id !== 'us-1') {
        assert.deepEqual([now.exit.id, now.reason], [was.exit.id, 'port'], `${login} port ${port}`);
        continue;
      }
      assert.equal(now.reason, 'replacement', `${login} port ${port}`);
      const again = new Set(Array.from({ length: 20 }, () => after.pick(login, {}, port)!.exit.id));
      assert.deepEqual([...again], [now.exit.id], 'the same replacement every time');
      // same place first (all: us-2 shares new_york), else the same country (bob: us-3 in dallas)
      assert.equal(now.exit.id, login === 'all' ? 'us-2' : 'us-3');
    }
  }
  // never chosen at random, by session, or by a named exit IP
  for (let i = 0; i < 100; i++) assert.notEqual(after.pick('all', { country: 'us' })!.exit.id, 'us-1');
  for (let k = 0; k < 50; k++) assert.notEqual(after.pick('all', { session: `s${k}` }, 8000, undefined, 1_700_000_000_000)!.exit.id, 'us-1');
  assert.throws(() => after.pick('all', { exitIp: '10.0.0.1' }), (e: Error) => (e as { code?: string }).code === 'EXIT_UNREACHABLE' && /us-1 \(10\.0\.0\.1\) is drained/.test(e.message));
  // a strict session whose exit is drained moves (a drain is lasting, unlike an outage)
  const t0 = 1_700_000_000_000;
  const sid = Array.from({ length: 200 }, (_, k) => `x${k}`).find((id) => before.pick('all', { session: id, sessionMode: 'strict' }, 8000, undefined, t0)!.exit.id === 'us-1')!;
  assert.notEqual(after.pick('all', { session: sid, sessionMode: 'strict' }, 8000, undefined, t0)!.exit.id, 'us-1');
  // every US exit drained: a clear refusal names the drain
  const allUs = drainedSetup(['us-1', 'us-2', 'us-3']);
  assert.throws(() => allUs.pick('all', { country: 'us' }), /all 3 of your exits in country us are drained/);
  assert.equal(allUs.pick('bob', {}, 8004)?.exit.id, 'gb-1', 'gb-1 keeps port 4');
  assert.equal(allUs.pick('bob', {}, 8002)?.reason, 'replacement');
});

test('a drained exit gives up its egress IP to a live one (no duplicate refusal)', () => {
  const idx = new ExitIndex(IngressConfigSchema.parse({ exits: [{ ...EXITS[0], drain: true }, { ...EXITS[1], egressIp: '10.0.0.1' }] }).exits);
  assert.equal(idx.byEgressIp('10.0.0.1')?.id, 'us-2');
});

test('place alternatives: country-us,de picks among both; a port counts within them', () => {
  const seen = new Set(Array.from({ length: 200 }, () => pick('all', { country: ['de', 'gb'] })!.exit.id));
  assert.deepEqual([...seen].sort(), ['de-1', 'de-2', 'gb-1']);
  assert.deepEqual([1, 2, 3].map((i) => pick('bob', { country: ['us', 'de'] }, 8000 + i)?.exit.id), ['de-2', 'us-1', 'us-3']);
  assert.throws(() => pick('bob', { country: ['fr', 'gb'] }), /none of your 3 exits is in country fr or gb/);
  assert.equal(pick('all', { city: ['dallas', 'berlin'] })?.exit.id, 'us-3');
  // against a place-scheme slot the alternatives are intersected with the slot's country
  assert.equal(pick('places', { country: ['de', 'us'] }, 8202)?.exit.id, 'de-2');
  assert.throws(() => pick('places', { country: ['de', 'gb'] }, 8100), /port 8100 is country us, but the username asks for country de or gb/);
});

test('quality threshold: only exits scored at or above it; unmeasured ones do not qualify', () => {
  const scores: Record<string, number> = { 'us-1': 95, 'us-2': 60, 'us-3': 91, 'de-1': 30 };
  const config = IngressConfigSchema.parse({ listen: { ports: [8000, 8099] }, exits: EXITS, users: [{ login: 'all', passwordHash: H }] });
  const snap = compileSnapshot(config, 1);
  const r = snap.usersByLogin.get('all')!.route;
  const q = (tags: UsernameTags, port = 8000, usable: (e: Exit) => boolean = () => true) =>
    selectExit(snap.exits, r, { login: 'all', tags, port, nowMs: 0, defaultSessionMinutes: 10, qualityOf: (e) => scores[e.id] }, usable);
  const seen = new Set(Array.from({ length: 200 }, () => q({ minQuality: 90 })!.exit.id));
  assert.deepEqual([...seen].sort(), ['us-1', 'us-3'], 'de-2 and gb-1 are unmeasured');
  assert.equal(q({ minQuality: 90, session: 'a' })!.ref.place.country, 'us');
  // behind a port: an exit below the bar is replaced like a dead one
  const c = q({ minQuality: 90 }, 8002)!;
  assert.deepEqual([c.exit.id, c.reason], ['us-1', 'replacement'], 'us-2 (60) → us-1, same place');
  assert.equal(q({ minQuality: 50 }, 8002)?.exit.id, 'us-2');
  assert.throws(() => q({ minQuality: 90, exitIp: '10.0.0.2' }), (e: Error) => (e as { code?: string }).code === 'NO_EXIT_MATCH' && /us-2 \(10\.0\.0\.2\) has quality 60, below the 90/.test(e.message));
  assert.throws(() => q({ minQuality: 50, country: 'de' }), (e: Error) => (e as { code?: string }).code === 'NO_EXIT_MATCH' && /has quality 50 or more \(de-1 30, de-2 unmeasured\)/.test(e.message));
  // good enough but down: that is an outage, not a quality refusal
  assert.throws(() => q({ minQuality: 90, country: 'us' }, 8000, () => false), (e: Error) => (e as { code?: string }).code === 'EXIT_UNREACHABLE');
  assert.equal(q({ minQuality: 0 }, 8004)?.exit.id, 'de-1', 'quality-0: any measured exit');
});
