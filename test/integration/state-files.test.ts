/**
 * Crash-safe state on the ingress (docs/CONFIGURATION.md, "State and crash
 * safety"): a corrupt snapshot or statistics journal at start is moved aside
 * (one log line) and the node starts anyway; a read-only or full state dir
 * never stops it (logged once, hopgate_ingress_state_persisting 0); an
 * ingress killed with SIGKILL loses no closed minute of usage and the control
 * plane counts each one exactly once.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type { Logger } from '../../src/shared/log.js';
import { dialects, tempDir, type TestDb } from '../helpers/control-fixtures.js';
import { TEST_SETTINGS, connectTunnel, drain, makeNode, startBlobServer, startLinkedIngress, startTestControl, type Api } from '../helpers/control-link-fixtures.js';
import { LEDGER_FILE, parseJournal } from '../../src/ingress/control-link/stats.js';
import { SNAPSHOT_FILE } from '../../src/ingress/control-link/config-state.js';
import type { ControlPlane } from '../../src/control/control-plane.js';
import type { ControlledIngress } from '../../src/processes/controlled-ingress.js';
import { eventually } from '../helpers/eventually.js';
import { freePort } from '../helpers/ports.js';
import { killHard, readyJson, startProc, stopGracefully, type Proc } from '../helpers/procs.js';

const CHILD = fileURLToPath(new URL('../helpers/controlled-child.js', import.meta.url));
// On SQLite only: what is tested here is the ingress's state dir (its journal and snapshot, a SIGKILL, a read-only or
// full dir), the same whatever the control plane stores in. The store's side of "counted exactly once" (a pull stored
// twice, a failed write, a killed control plane, a restarted ingress) runs on both dialects in control-stats.test.ts;
// the SIGKILL case here on PostgreSQL too was ~3 s of CPU (3 ingress processes, a control plane) for no other check.
const cases = (await dialects()).filter((d) => d.name === 'sqlite');
const BLOB = 10_000;

/** A logger whose JSON lines the test reads. */
function capturingLog(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log: Logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { log, lines };
}

interface Child {
  proc: Proc;
  info: { ports: [number, number]; adminUrl: string; bootedFrom: string };
  stderr: () => string;
  logs: () => Array<Record<string, unknown>>;
}

/** Start the ingress child, optionally through `sh -c PREFIX` (a mount namespace), and wait for its ready line. */
async function startChild(env: Record<string, string>, shellPrefix?: string): Promise<Child> {
  const node = `exec ${JSON.stringify(process.execPath)} ${JSON.stringify(CHILD)}`;
  const argv = shellPrefix ? ['unshare', '-m', '--propagation', 'private', 'sh', '-ec', `${shellPrefix}\n${node}`] : [process.execPath, CHILD];
  const proc = await startProc('ingress child', argv, { env, ready: /^\{/ });
  const logs = (): Array<Record<string, unknown>> =>
    proc
      .stderr()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { proc, info: readyJson(proc), stderr: () => proc.stderr(), logs };
}

const kill9 = (c: Child): Promise<void> => killHard(c.proc);
/** SIGTERM (SIGKILL after 10 s); its exit code. */
const term = (c: Child): Promise<string> => stopGracefully(c.proc);

/** Closed records the ingress holds for the control plane (its /metrics). */
async function pendingRecords(adminUrl: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  return Number(/^hopgate_ingress_stats_pending_records (\d+)$/m.exec(text)?.[1] ?? NaN);
}

for (const dc of cases) {
  describe(`state files on ${dc.name}`, { skip: dc.skip }, () => {
    let tdb: TestDb;
    let cpState: ReturnType<typeof tempDir>;
    let cp: ControlPlane & { api: Api };
    let call: Api;
    let blob: Awaited<ReturnType<typeof startBlobServer>>;
    let token: string;
    let password: string;
    const children: Child[] = [];
    const dirs: Array<ReturnType<typeof tempDir>> = [];
    const ingresses: ControlledIngress[] = [];

    const stateDir = (): string => {
      const d = tempDir('hopgate-ingress-state-');
      dirs.push(d);
      return d.path;
    };

    async function stored(live = false): Promise<{ bytesDown: number; connections: number }> {
      const r = await call('GET', `/v1/usage?customer=alice&by=month&live=${live}`);
      assert.equal(r.status, 200);
      return r.body.totals;
    }

    /** The collector pulls the node's current process (the one at `adminUrl`), not a dead one. */
    async function pullFrom(adminUrl: string): Promise<void> {
      await eventually('the ingress subscribed with this admin address', () => {
        const subs = [...cp.hub.subscribers].filter((s) => s.nodeId === 'edge-1');
        return subs.length === 1 && subs[0]!.adminUrl === adminUrl;
      }, { timeoutMs: 10_000 });
      await cp.collector.round();
      assert.ok(cp.collector.lastPulls.every((p) => p.ok), JSON.stringify(cp.collector.lastPulls));
    }

    async function traffic(port: number, n: number): Promise<number> {
      for (let i = 0; i < n; i++) {
        const t = await connectTunnel(port, 'alice', password, blob.port);
        assert.equal(t.status, 200);
        assert.equal(await drain(t), BLOB);
      }
      return n * BLOB;
    }

    before(async () => {
      tdb = await dc.make();
      cpState = tempDir();
      cp = await startTestControl(tdb.spec, cpState.path);
      call = cp.api;
      blob = await startBlobServer(BLOB);
      await call('PATCH', '/v1/settings', TEST_SETTINGS);
      password = (await call('POST', '/v1/customers', { login: 'alice' })).body.password;
      token = await makeNode(call, 'edge-1');
    });
    after(async () => {
      for (const c of children) await kill9(c);
      for (const i of ingresses) await i.stop();
      await cp?.close();
      await blob?.close();
      await tdb?.cleanup();
      cpState?.remove();
      for (const d of dirs) d.remove();
    });

    it('a SIGKILLed ingress loses no closed minute, and the control plane counts each exactly once', async () => {
      const dir = stateDir();
      const env = { HG_CONTROL_URL: cp.url, HG_TOKEN: token, HG_STATE_DIR: dir };
      const before = (await stored(false)).bytesDown;
      let sent = 0;

      // 1. Traffic, its minute closes, pulled and stored: the baseline.
      let a = await startChild(env);
      children.push(a);
      sent += await traffic(a.info.ports[0], 3);
      await pullFrom(a.info.adminUrl);
      await eventually('the usage reached the ingress ledger', async () => (await cp.collector.round(), (await stored(true)).bytesDown === before + sent));
      a.proc.child.kill('SIGUSR2'); // the minute ends
      await eventually('the closed minute stored', async () => (await cp.collector.round(), (await stored(false)).bytesDown === before + sent));

      // 2. More traffic; its minute closes; SIGKILL before any pull takes it.
      sent += await traffic(a.info.ports[0], 2);
      await eventually('the second batch in the ledger (live)', async () => {
        await cp.collector.round();
        return (await stored(true)).bytesDown === before + sent;
      });
      a.proc.child.kill('SIGUSR2');
      // The signal is in once the closed minute is held (journaled by the ingress's own clock, as in 4.).
      await eventually('the second minute closed', async () => (await pendingRecords(a.info.adminUrl)) >= 1, { timeoutMs: 5000 });
      // A pull closes the minute and its write fails (the database hiccups): the ingress holds the records, then dies.
      cp.collector.failNextWrites = 1;
      await cp.collector.round();
      assert.equal(cp.collector.lastPulls[0]?.ok, false);
      assert.ok((await pendingRecords(a.info.adminUrl)) >= 1, 'the closed minute waits on the ingress');
      assert.equal((await stored(false)).bytesDown, before + sent - BLOB * 2, 'not stored yet');
      await kill9(a);

      // 3. Restarted: the journal is offered again; pulled twice, counted once.
      const b = await startChild(env);
      children.push(b);
      await pullFrom(b.info.adminUrl);
      await cp.collector.round();
      assert.equal((await stored(false)).bytesDown, before + sent, 'exactly the bytes sent: nothing lost, nothing twice');

      // 4. Stored but not yet acknowledged (the ack is the next pull's cursor): SIGKILL, restart, still once.
      sent += await traffic(b.info.ports[0], 1);
      await eventually('the third batch in the ledger (live)', async () => {
        await cp.collector.round();
        return (await stored(true)).bytesDown === before + sent;
      });
      b.proc.child.kill('SIGUSR2');
      // Closed by the ingress's own clock, no pull needed (journaled within a second of the minute's end + grace).
      await eventually('the third minute closed', async () => (await pendingRecords(b.info.adminUrl)) >= 1, { timeoutMs: 5000 });
      await cp.collector.round(); // stored; the ingress still holds it (the ack is the next pull's cursor)
      assert.equal((await stored(false)).bytesDown, before + sent);
      assert.ok((await pendingRecords(b.info.adminUrl)) >= 1);
      await kill9(b);
      a = await startChild(env);
      children.push(a);
      await pullFrom(a.info.adminUrl);
      await cp.collector.round();
      assert.equal((await stored(false)).bytesDown, before + sent, 'the re-offered minute is skipped, not added again');
      assert.equal(await term(a), '0');
    });

    it('a truncated control-snapshot.json with the control plane down: moved aside, logged, the node waits and boots from the control plane', async () => {
      const dir = stateDir();
      const file = join(dir, SNAPSHOT_FILE);
      writeFileSync(file, '{"format":1,"revision":3,"config":{"users":[', { mode: 0o600 });
      const port = await freePort();
      const { log, lines } = capturingLog();
      const starting = startLinkedIngress(`http://127.0.0.1:${port}`, token, dir, { log, bootWaitMs: 300 });
      let failed: Error | undefined;
      starting.catch((err: Error) => (failed = err));
      await eventually('the corrupt snapshot logged', () => failed ?? lines.find((l) => String(l.msg).includes('corrupt')), { timeoutMs: 5000 });
      assert.equal(failed, undefined, `the ingress start failed: ${failed?.message}`);
      const line = lines.find((l) => String(l.msg).includes('corrupt'))!;
      assert.equal(line.level, 50);
      assert.equal(line.file, file);
      assert.equal(lines.filter((l) => String(l.msg).includes('corrupt')).length, 1, 'one line');
      const aside = readdirSync(dir).filter((n) => n.startsWith(`${SNAPSHOT_FILE}.corrupt-`));
      assert.equal(aside.length, 1);
      assert.equal(line.movedTo, join(dir, aside[0]!));
      assert.equal(readFileSync(join(dir, aside[0]!), 'utf8'), '{"format":1,"revision":3,"config":{"users":[', 'kept as it was, for a person to look at');

      // A control plane on that address: the node boots from it and keeps a good snapshot again.
      const cp2 = await startTestControl(tdb.spec, cpState.path, { port });
      try {
        const ing = await starting;
        ingresses.push(ing);
        assert.equal(ing.bootedFrom, 'control');
        await eventually('a valid snapshot on disk', () => existsSync(file) && JSON.parse(readFileSync(file, 'utf8')).format === 1);
      } finally {
        for (const i of ingresses.splice(0)) await i.stop();
        await cp2.close();
      }
    });

    it('a snapshot that is JSON but not a configuration is moved aside too', async () => {
      const dir = stateDir();
      writeFileSync(join(dir, SNAPSHOT_FILE), JSON.stringify({ format: 1, revision: 2, savedAt: 'x', config: { users: [{ login: 42 }], exits: [] } }));
      const { log, lines } = capturingLog();
      const port = await freePort();
      const starting = startLinkedIngress(`http://127.0.0.1:${port}`, token, dir, { log, bootWaitMs: 300 });
      let failed: Error | undefined;
      starting.catch((err: Error) => (failed = err));
      await eventually('the corrupt snapshot logged', () => failed ?? lines.find((l) => String(l.msg).includes('corrupt')), { timeoutMs: 5000 });
      assert.equal(failed, undefined, `the ingress start failed: ${failed?.message}`);
      assert.equal(readdirSync(dir).filter((n) => n.startsWith(`${SNAPSHOT_FILE}.corrupt-`)).length, 1);
      assert.ok(lines.some((l) => String(l.msg).includes('waiting for it')), 'then waits for the control plane');
      const cp2 = await startTestControl(tdb.spec, cpState.path, { port });
      try {
        ingresses.push(await starting);
      } finally {
        for (const i of ingresses.splice(0)) await i.stop();
        await cp2.close();
      }
    });

    for (const [name, content] of [
      ['truncated', '{"format":2,"epoch":"eab'],
      ['garbage', '\u0000\u0001not json at all\n'],
      ['wrong shape', '{"format":2,"epoch":7,"nextSeq":"x"}\n'],
    ] as const) {
      it(`a ${name} stats-ledger.json: the node starts with a new ledger, the file moved aside, one log line`, async () => {
        const dir = stateDir();
        writeFileSync(join(dir, LEDGER_FILE), content);
        const { log, lines } = capturingLog();
        const ing = await startLinkedIngress(cp.url, token, dir, { log });
        ingresses.push(ing);
        try {
          const bad = lines.filter((l) => String(l.msg).includes('corrupt'));
          assert.equal(bad.length, 1, JSON.stringify(lines));
          assert.equal(bad[0]!.level, 50);
          const aside = readdirSync(dir).filter((n) => n.startsWith(`${LEDGER_FILE}.corrupt-`));
          assert.equal(aside.length, 1);
          assert.equal(readFileSync(join(dir, aside[0]!), 'utf8'), content);
          assert.equal(ing.ledger.stats().pending, 0);
          // The new journal is valid and in use.
          await ing.ledger.flushed();
          const j = parseJournal(readFileSync(join(dir, LEDGER_FILE), 'utf8'));
          assert.ok(j.ok && j.epoch === ing.ledger.epoch);
        } finally {
          for (const i of ingresses.splice(0)) await i.stop();
        }
      });
    }

    it('a journal whose last append was cut short resumes every complete line', async () => {
      const dir = stateDir();
      const header = JSON.stringify({ format: 2, epoch: 'etorn01', nextSeq: 3 });
      const rec = (seq: number, down: number): unknown[] => [seq, '2026-01-01T00:00', 'alice', '', 0, down, 1, 0];
      writeFileSync(join(dir, LEDGER_FILE), `${header}\n${JSON.stringify([rec(1, 5), rec(2, 6)])}\n[[3,"2026-01-01T00:01","ali`);
      const { log, lines } = capturingLog();
      const ing = await startLinkedIngress(cp.url, token, dir, { log });
      try {
        assert.equal(ing.ledger.epoch, 'etorn01');
        assert.equal(ing.ledger.stats().pending, 2);
        assert.ok(lines.some((l) => l.skippedLines === 1));
        assert.equal(readdirSync(dir).filter((n) => n.includes('.corrupt-')).length, 0, 'a torn tail is expected after a crash, not corruption');
        const p = ing.ledger.pull(undefined);
        assert.deepEqual(p.records.map((r) => r[0]), [1, 2]);
        // New records continue the sequence (the control plane's cursor for this epoch must not skip them).
        assert.ok(p.next === 'etorn01:2');
      } finally {
        await ing.stop();
      }
    });

    const root = process.getuid?.() === 0;
    for (const [what, prep, code] of [
      ['read-only', 'mount -t tmpfs -o size=1m,mode=0700 tmpfs "$HG_STATE_DIR"; mount -o remount,ro "$HG_STATE_DIR"', 'EROFS'],
      ['full', 'mount -t tmpfs -o size=16k,mode=0700 tmpfs "$HG_STATE_DIR"; dd if=/dev/zero of="$HG_STATE_DIR/fill" bs=4k 2>/dev/null || true', 'ENOSPC'],
    ] as const) {
      it(`a ${what} state dir (${code}, a tmpfs in a private mount namespace) never stops the node: logged once, persistence off, traffic counted`, { skip: !root && 'needs root for unshare -m' }, async () => {
        const dir = stateDir();
        const c = await startChild({ HG_CONTROL_URL: cp.url, HG_TOKEN: token, HG_STATE_DIR: dir }, prep);
        children.push(c);
        assert.equal(c.info.bootedFrom, 'control');
        // Several configuration changes, each a snapshot write that fails.
        for (let i = 0; i < 3; i++) {
          assert.equal((await call('POST', '/v1/customers', { login: `${code.toLowerCase()}${i}` })).status, 201);
          const rev = (await call('GET', '/v1/revision')).body.revision;
          await eventually('the node acknowledged the change', async () => (await call('GET', '/v1/ingress-nodes/edge-1')).body.ackedRevision === rev);
        }
        // Traffic still flows and is counted (in memory) with the journal unwritable.
        const was = (await stored(true)).bytesDown;
        await traffic(c.info.ports[0], 1);
        await pullFrom(c.info.adminUrl);
        await eventually('the usage pulled', async () => (await cp.collector.round(), (await stored(true)).bytesDown === was + BLOB));
        c.proc.child.kill('SIGUSR2');
        await eventually('the minute stored', async () => (await cp.collector.round(), (await stored(false)).bytesDown >= was + BLOB));
        const metrics = await (await fetch(`${c.info.adminUrl}/metrics`)).text();
        assert.match(metrics, /^hopgate_ingress_state_persisting 0$/m);
        const cannot = c.logs().filter((l) => String(l.msg).includes('state directory cannot be written'));
        assert.equal(cannot.length, 1, `logged once, not per write:\n${c.stderr()}`);
        assert.equal(cannot[0]!.code, code);
        assert.equal(await term(c), '0', `clean exit:\n${c.stderr()}`);
        assert.equal(c.logs().filter((l) => String(l.msg).includes('state directory cannot be written')).length, 1, 'still once after the shutdown write');
      });
    }
  });
}
