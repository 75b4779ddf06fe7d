import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateDir } from '../../shared/state-file.js';
import { DOMAIN_TOP_K, domainOf, DomainTally, LoginTally, MAX_FAILED_LOGIN_KEYS, MAX_LOGIN_KEYS, sourcePrefix, type DomainMeterRow, type LoginMeterRow } from './stats-extra.js';
import { LEDGER_FILE, parseJournal, StatsLedger } from './stats.js';

const d = (host: string): string => domainOf({ host, kind: /^[\d.]+$/.test(host) || host.includes(':') ? 'ipv4' : 'domain' });

test('domainOf: lower-cased registrable-ish names, addresses as "ip"', () => {
  assert.equal(d('LocalHost.'), 'localhost');
  assert.equal(d('a.b.Example.COM'), 'example.com');
  assert.equal(d('x.y.bbc.co.uk'), 'bbc.co.uk');
  assert.equal(d('cdn.example.de'), 'example.de');
  assert.equal(d('127.0.0.1'), 'ip');
  assert.equal(domainOf({ host: '::1', kind: 'ipv6' }), 'ip');
  assert.equal(domainOf({ host: '10.0.0.1', kind: 'domain' }), 'ip', 'an address written as a name is an address');
});

test('sourcePrefix: /24 and /48, IPv4-mapped as IPv4, junk under (other)', () => {
  assert.equal(sourcePrefix('203.0.113.77'), '203.0.113.0/24');
  assert.equal(sourcePrefix('::ffff:203.0.113.77'), '203.0.113.0/24');
  assert.equal(sourcePrefix('2001:db8:1:2::5'), '2001:db8:1::/48');
  assert.equal(sourcePrefix('not-an-address'), '(other)');
});

// 200,000 names are 2,000 times K: the bound and the conservation are the same at a million (3 s of CPU in every npm test).
test('DomainTally: 200,000 random names stay within K entries, the heavy name survives, nothing is lost', () => {
  const t = new DomainTally();
  let bytes = 0;
  let conns = 0;
  for (let i = 0; i < 200_000; i++) {
    const heavy = i % 1000 === 0;
    const up = heavy ? 5000 : 1;
    t.add(heavy ? 'big.example' : `r${i}.example${i}`, up, 0, 1);
    bytes += up;
    conns++;
  }
  assert.ok(t.named.size <= DOMAIN_TOP_K, `${t.named.size} names`);
  const all = [...t.entries()];
  assert.equal(all.find((e) => e[0] === 'big.example')?.[1], 200 * 5000, 'the heavy hitter keeps every byte under its own name');
  assert.equal(all.reduce((s, e) => s + e[1], 0), bytes);
  assert.equal(all.reduce((s, e) => s + e[3], 0), conns);
});

test('LoginTally: a guessing flood from a million sources stays within its key bound, counts conserved', () => {
  const t = new LoginTally();
  for (let i = 0; i < 1_000_000; i++) t.add('2026-01-01T00:00', i % 3 === 0 ? 'alice' : '', `10.${(i >> 16) & 255}.${(i >> 8) & 255}.0/24`, 'bad_password', 1);
  assert.ok(t.counts.size <= MAX_LOGIN_KEYS + 2, `${t.counts.size} keys`);
  assert.equal([...t.counts.values()].reduce((s, r) => s + r[4], 0), 1_000_000);
  assert.ok([...t.counts.values()].some((r) => r[2] === '(other)'));
});

test('LoginTally: failures from an anonymous flood get far fewer prefixes than logins that succeed (the database keeps them 30 days)', () => {
  const t = new LoginTally();
  for (let i = 0; i < 100_000; i++) t.add('2026-01-01T00:00', '', `2001:db8:${(i >> 8).toString(16)}:${(i & 255).toString(16)}::/48`, 'unknown_user', 1);
  // Customers' successful logins from new prefixes still get their own keys after the flood.
  for (let i = 0; i < 500; i++) t.add('2026-01-01T00:00', 'alice', `10.0.${i & 255}.${i >> 8}/24`, 'ok', 1);
  const rows = [...t.counts.values()];
  const failed = rows.filter((r) => r[3] !== 'ok');
  assert.ok(failed.length <= MAX_FAILED_LOGIN_KEYS + 1, `${failed.length} failure keys`);
  assert.equal(failed.reduce((s, r) => s + r[4], 0), 100_000, 'every failure counted, named or (other)');
  assert.equal(rows.filter((r) => r[3] === 'ok' && r[2] !== '(other)').length, 500);
});

test('the ledger: logins and domains close with their minute, share the sequence, are journaled, pulled once, and bounded under a flood', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hopgate-ledger-extra-'));
  try {
    let t = Date.parse('2026-01-01T00:00:10Z');
    const a = new StatsLedger(100, () => t);
    a.attach(new StateDir(dir));
    const m = '2026-01-01T00:00';
    const domains: DomainMeterRow[] = [[m, 'alice', 'example.com', 10, 1000, 1]];
    const logins: LoginMeterRow[] = [[m, 'alice', '127.0.0.0/24', 'ok', 2]];
    // A flood in the same minute: random domains of one customer, failures from many prefixes.
    for (let i = 0; i < 200_000; i++) {
      domains.push([m, 'alice', `n${i}.flood${i}.test`, 0, 0, 1]);
      logins.push([m, '', `10.${(i >> 16) & 255}.${(i >> 8) & 255}.0/24`, 'unknown_user', 1]);
    }
    a.addBatch({ rows: [[m, 'alice', '', 10, 1000, 1, 0]], domains, logins });
    assert.ok(a.stats().openExtra <= DOMAIN_TOP_K + 1 + MAX_LOGIN_KEYS + 4, `open extra ${a.stats().openExtra}`);
    t += 1000;
    a.closeMinutes();
    assert.equal(a.stats().pending, 0, 'the open minute is not checkpointed for logins and domains');
    t += 60_000;
    a.closeMinutes();
    await a.flushed();
    const p = a.pull(undefined);
    assert.equal(p.records.length >= 1, true);
    assert.ok(p.domains!.length <= DOMAIN_TOP_K + 1 && p.logins!.length <= MAX_LOGIN_KEYS + 2);
    assert.equal(p.domains!.find((r) => r[4] === 'example.com')?.[6], 1000);
    assert.equal(p.domains!.reduce((s, r) => s + r[7], 0), 200_001, 'every connection counted, named or (other)');
    assert.equal(p.logins!.reduce((s, r) => s + r[6], 0), 200_002);
    assert.deepEqual(p.logins!.find((r) => r[5] === 'ok')?.slice(2), [m, 'alice', '127.0.0.0/24', 'ok', 2]);
    const seqs = [...p.records, ...p.logins!, ...p.domains!].map((r) => r[0]).sort((x, y) => x - y);
    assert.deepEqual(seqs, seqs.map((_, i) => i + 1), 'one sequence across the kinds');
    assert.equal(p.next, `${a.epoch}:${seqs.length}`);
    const j = parseJournal(readFileSync(join(dir, LEDGER_FILE), 'utf8'));
    assert.ok(j.ok && j.records.length === seqs.length, 'every kind is in the journal and reads back');
    // Killed here: a new ledger offers the same records again (the control plane's cursor skips them).
    const b = new StatsLedger(100, () => t);
    b.attach(new StateDir(dir));
    assert.deepEqual(b.pull(undefined).logins, p.logins);
    const after = b.pull(p.next);
    assert.deepEqual([after.records.length, after.logins!.length, after.domains!.length], [0, 0, 0], 'acknowledged: gone');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('parseJournal rejects login and domain records that do not fit their columns (an outcome outside the fixed set, a control byte)', () => {
  const header = JSON.stringify({ format: 2, epoch: 'e01', nextSeq: 1 });
  const bad = parseJournal(`${header}\n${JSON.stringify([[1, 'login', '2026-01-01T00:00', 'a', '1.2.3.0/24', 'pwned', 1]])}\n`);
  assert.ok(bad.ok && bad.records.length === 0 && bad.skipped === 1);
  // What the control plane would drop from a pull (a control byte) is not read back either: one check on both sides.
  const nul = parseJournal(`${header}\n${JSON.stringify([[1, 'domain', '2026-01-01T00:00', 'a\u0000b', 'example.com', 1, 1, 1]])}\n${JSON.stringify([[2, 'login', '2026-01-01T00:00', 'a', '1.2.3.0/24', 'ok', 1]])}\n`);
  assert.ok(nul.ok && nul.skipped === 1);
  assert.deepEqual(nul.records.map((r) => r[0]), [2]);
});

test('over its waiting limit the ledger drops the oldest logins and domains first: usage records (billing data) outlast a credential flood', () => {
  let t = Date.parse('2026-01-01T00:00:10Z');
  const a = new StatsLedger(100, () => t, 0, 50);
  const minute = (): string => new Date(t).toISOString().slice(0, 16);
  // The control plane is away: 5 minutes of usage, then an hour of failed logins from 20 prefixes a minute.
  for (let i = 0; i < 5; i++, t += 60_000) a.addBatch({ rows: [[minute(), 'alice', '', 10, 100, 1, 0]] });
  let lastFlood = '';
  for (let i = 0; i < 60; i++, t += 60_000) {
    lastFlood = minute();
    const logins: LoginMeterRow[] = [];
    for (let k = 0; k < 20; k++) logins.push([minute(), '', `10.0.${k}.0/24`, 'unknown_user', 1]);
    a.addBatch({ rows: [], logins });
    a.closeMinutes();
  }
  a.closeMinutes(true);
  assert.ok(a.stats().pending <= 50, `pending ${a.stats().pending}`);
  assert.ok(a.dropped >= 60 * 20 - 50, `dropped ${a.dropped}`);
  const p = a.pull(undefined, 1000);
  assert.equal(p.records.length, 5, 'every usage record is still there');
  assert.equal(p.records.reduce((s, r) => s + r[5], 0), 500);
  assert.equal(p.logins!.at(-1)?.[2], lastFlood, 'the newest logins are kept');
  // Usage alone over the limit: then the oldest usage goes, as before.
  const b = new StatsLedger(100, () => t, 0, 3);
  for (let i = 0; i < 5; i++, t += 60_000) b.addBatch({ rows: [[minute(), 'alice', '', 1, 1, 1, 0]] });
  b.closeMinutes(true);
  assert.deepEqual([b.stats().pending, b.dropped], [3, 2]);
});

test('closed logins and domains not yet on disk are held back, and never shown as live usage', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hopgate-ledger-live-'));
  try {
    let t = Date.parse('2026-01-01T00:00:10Z');
    const a = new StatsLedger(100, () => t);
    a.attach(new StateDir(dir));
    const m = '2026-01-01T00:00';
    a.addBatch({ rows: [[m, 'alice', '', 1, 2, 1, 0]], domains: [[m, 'alice', 'example.com', 1, 2, 1]], logins: [[m, 'alice', '127.0.0.0/24', 'ok', 1]] });
    t += 61_000;
    a.closeMinutes();
    // The journal's write is under way: nothing is offered yet, the usage shows as live, logins and domains not at all.
    const p = a.pull(undefined);
    assert.deepEqual([p.records.length, p.logins!.length, p.domains!.length], [0, 0, 0]);
    assert.deepEqual(p.live, [[m, 'alice', '', 1, 2, 1, 0]]);
    await a.flushed();
    const q = a.pull(undefined);
    assert.deepEqual([q.records.length, q.logins!.length, q.domains!.length, q.live.length], [1, 1, 1, 0]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
