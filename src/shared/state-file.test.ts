import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { z } from 'zod';
import type { Logger } from './log.js';
import { createFileAtomic, readStateFile, StateDir, writeFileAtomic } from './state-file.js';

function scratch(): string {
  return mkdtempSync(join(tmpdir(), 'hopgate-state-file-'));
}

function capture(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  return { log: pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) }), lines };
}

const Schema = z.object({ n: z.number() });

test('writeFileAtomic: replaces the content whole, mode 0600, no temp file left', () => {
  const dir = scratch();
  try {
    const f = join(dir, 'sub', 'x.json');
    writeFileAtomic(f, '{"n":1}');
    writeFileAtomic(f, '{"n":2}');
    assert.equal(readFileSync(f, 'utf8'), '{"n":2}');
    assert.equal(statSync(f).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'sub')).mode & 0o777, 0o700);
    assert.deepEqual(readdirSync(join(dir, 'sub')), ['x.json']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('createFileAtomic: exclusive; the loser sees the winner\'s content', () => {
  const dir = scratch();
  try {
    const f = join(dir, 'token');
    assert.equal(createFileAtomic(f, 'first\n'), true);
    assert.equal(createFileAtomic(f, 'second\n'), false);
    assert.equal(readFileSync(f, 'utf8'), 'first\n');
    assert.deepEqual(readdirSync(dir), ['token']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('readStateFile: absent, valid, and corrupt (truncated JSON, wrong shape) moved aside with one error line', () => {
  const dir = scratch();
  try {
    const f = join(dir, 's.json');
    const { log, lines } = capture();
    assert.deepEqual(readStateFile(f, Schema, log), { status: 'absent' });
    writeFileSync(f, '{"n":5}');
    assert.deepEqual(readStateFile(f, Schema, log), { status: 'ok', value: { n: 5 } });
    for (const bad of ['{"n":', '{"n":"five"}', '']) {
      writeFileSync(f, bad);
      const r = readStateFile(f, Schema, log, 'test state');
      assert.equal(r.status, 'corrupt');
      const moved = r.status === 'corrupt' ? r.movedTo : undefined;
      assert.ok(moved?.startsWith(`${f}.corrupt-`));
      assert.equal(readFileSync(moved!, 'utf8'), bad);
      rmSync(moved!);
    }
    assert.equal(lines.length, 3);
    assert.ok(lines.every((l) => l.level === 50 && l.msg === 'test state is corrupt (moved aside); starting without it'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('StateDir: an unwritable directory (a file in its place) is logged once, not per write, and its recovery once', () => {
  const dir = scratch();
  try {
    const where = join(dir, 'state');
    writeFileSync(where, 'a file where the directory should be');
    const { log, lines } = capture();
    const sd = new StateDir(where, log);
    for (let i = 0; i < 5; i++) assert.equal(sd.write('x.json', '{}'), false);
    assert.equal(sd.persisting, false);
    assert.equal(sd.failures, 5);
    assert.equal(lines.length, 1);
    assert.match(String(lines[0]!.code), /^(ENOTDIR|EEXIST)$/);
    rmSync(where);
    mkdirSync(where);
    assert.equal(sd.write('x.json', '{}'), true);
    assert.equal(sd.persisting, true);
    assert.equal(lines.length, 2);
    assert.match(String(lines[1]!.msg), /persistence resumed/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('StateDir: a bug (not a storage error) still throws', () => {
  const sd = new StateDir(scratch());
  try {
    assert.throws(() => sd.attempt('x', () => { throw new TypeError('bug'); }), TypeError);
  } finally {
    rmSync(sd.dir, { recursive: true, force: true });
  }
});
