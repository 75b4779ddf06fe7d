import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateDir } from '../../shared/state-file.js';
import { LEDGER_FILE, parseJournal, StatsLedger } from './stats.js';

const rec = (seq: number, down: number): [number, string, string, string, number, number, number, number] => [seq, '2026-01-01T00:00', 'alice', '', 0, down, 1, 0];
const header = (epoch = 'e01', nextSeq = 1): string => JSON.stringify({ format: 2, epoch, nextSeq });

test('parseJournal: a torn last append is dropped, a damaged middle line skipped, duplicates once, nextSeq past every seq', () => {
  const text = `${header('e01', 2)}\n${JSON.stringify([rec(1, 1), rec(2, 2)])}\nnot json\n${JSON.stringify([rec(2, 2), rec(5, 5)])}\n[[6,"2026`;
  const r = parseJournal(text);
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.deepEqual(r.records.map((x) => x[0]), [1, 2, 5]);
  assert.equal(r.nextSeq, 6);
  assert.equal(r.skipped, 2);
});

test('parseJournal: the whole-file ledger of earlier versions is read; a bad header is corrupt', () => {
  const legacy = parseJournal(JSON.stringify({ format: 1, epoch: 'eold', nextSeq: 3, pending: [rec(1, 1), rec(2, 2)] }));
  assert.ok(legacy.ok && legacy.epoch === 'eold' && legacy.records.length === 2 && legacy.nextSeq === 3);
  assert.equal(parseJournal('{"format":2,"epoch":"e').ok, false);
  assert.equal(parseJournal(`${JSON.stringify({ format: 3, epoch: 'e', nextSeq: 1 })}\n`).ok, false);
  assert.equal(parseJournal(`${JSON.stringify({ format: 2, epoch: 'e/../x', nextSeq: 1 })}\n`).ok, false);
});

test('the journal: a closed minute is offered only once it is on disk, acknowledged ones are compacted away, a new ledger resumes them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hopgate-ledger-'));
  try {
    let t = Date.parse('2026-01-01T00:00:10Z');
    const a = new StatsLedger(100, () => t);
    a.attach(new StateDir(dir));
    a.add([['2026-01-01T00:00', 'alice', '', 0, 100, 1, 0]]);
    t += 60_000;
    a.closeMinutes();
    const early = a.pull(undefined);
    assert.equal(early.records.length, 0, 'not offered before it is on disk');
    assert.deepEqual(early.live.map((r) => r[4]), [100], 'shown as live meanwhile');
    await a.flushed();
    let j = parseJournal(readFileSync(join(dir, LEDGER_FILE), 'utf8'));
    assert.ok(j.ok && j.records.length === 1 && j.records[0]![5] === 100, 'journaled when it closed, before any pull');
    const p = a.pull(undefined);
    assert.equal(p.records.length, 1);
    assert.equal(p.live.length, 0);
    a.pull(p.next); // acknowledged
    await a.flushed();
    j = parseJournal(readFileSync(join(dir, LEDGER_FILE), 'utf8'));
    assert.ok(j.ok && j.records.length === 0 && j.nextSeq === 2, 'compacted; the sequence continues');
    a.add([['2026-01-01T00:01', 'alice', '', 0, 7, 1, 0]]);
    t += 60_000;
    a.closeMinutes();
    await a.flushed();
    // no clean shutdown: a second ledger on the same dir (the process was killed)
    const b = new StatsLedger(100, () => t);
    const r = b.attach(new StateDir(dir));
    assert.deepEqual([r.resumed, r.pending, b.epoch], [true, 1, a.epoch]);
    const q = b.pull(p.next);
    assert.deepEqual(q.records.map((x) => [x[0], x[5]]), [[2, 7]]);
    await b.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the journal: an unwritable state dir only turns persistence off; the ledger keeps counting and offering', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hopgate-ledger-'));
  try {
    const where = join(dir, 'not-a-dir');
    writeFileSync(where, '');
    let t = Date.parse('2026-01-01T00:00:10Z');
    const sd = new StateDir(where);
    const a = new StatsLedger(100, () => t);
    assert.equal(a.attach(sd).resumed, false);
    a.add([['2026-01-01T00:00', 'alice', '', 0, 100, 1, 0]]);
    t += 60_000;
    a.closeMinutes();
    await a.flushed();
    assert.equal(sd.persisting, false);
    assert.equal(a.pull(undefined).records.length, 1);
    const failures = sd.failures;
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(sd.failures, failures, 'no retry loop while nothing new closes');
    await a.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an open minute is checkpointed into the journal: a kill -9 mid-minute loses at most checkpointMs of usage', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hopgate-ledger-'));
  try {
    let t = Date.parse('2026-01-01T00:00:10Z');
    const a = new StatsLedger(2500, () => t, 5000);
    a.attach(new StateDir(dir));
    a.add([['2026-01-01T00:00', 'alice', '', 0, 100, 1, 0]]);
    t += 4000;
    a.closeMinutes();
    assert.equal(a.stats().pending, 0, 'younger than the checkpoint: still open');
    t += 1000;
    a.closeMinutes();
    a.add([['2026-01-01T00:00', 'alice', '', 0, 20, 0, 0]]); // the minute goes on in a new bucket
    t += 5000;
    a.closeMinutes();
    await a.flushed();
    // killed at 00:00:20, mid-minute, without close(): the journal holds both checkpoints
    const b = new StatsLedger(2500, () => t, 5000);
    assert.equal(b.attach(new StateDir(dir)).pending, 2);
    const p = b.pull(undefined);
    assert.deepEqual(p.records.map((r) => [r[1], r[5]]), [['2026-01-01T00:00', 100], ['2026-01-01T00:00', 20]]);
    assert.equal(p.live.length, 0);
    await b.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
