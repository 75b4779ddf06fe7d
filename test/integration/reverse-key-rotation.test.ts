/**
 * A reverse exit rotates its own link key without a restart (issue 19): `hopgate
 * link-key next`, the next fingerprint pinned at the ingress, `hopgate link-key
 * promote` on the running exit's key dir, the old key retired. A live tunnel on an
 * old-key link finishes intact; a steady run of new SOCKS5 tunnels never fails; at the
 * end only new-key links are open and the retired key is refused. Then what an operator
 * can get wrong: a corrupt key file, two promotions in a row. Also on two ingress
 * workers, and for an exit on work connections (the protocol before links).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer as createTlsServer } from 'node:tls';
import { SocksClient } from 'socks';
import { startEchoServer, withTimeout, closed } from '../helpers/net.js';
import { USER } from '../helpers/ingress.js';
import { reverseEntry, reverseIngressBase, startReverseExit, tunnelCert, TOKEN } from '../helpers/reverse.js';
import { startProc, stopGracefully } from '../helpers/procs.js';
import { eventually } from '../helpers/eventually.js';
import { freePort } from '../helpers/ports.js';
import { Ingress } from '../../src/ingress/ingress.js';
import { IngressConfigSchema } from '../../src/shared/schema/ingress-config.js';
import { createLogger } from '../../src/shared/log.js';
import { LINK_IDENTITY_FILE, LinkIdentitySource, createLinkIdentity, loadOrCreateLinkIdentity, promoteNextLinkIdentity, stageNextLinkIdentity, type LinkIdentity } from '../../src/link/identity.js';
import type { ReverseExitClient } from '../../src/exit/reverse-client.js';
import { startIngressProcesses, type RunningIngress } from '../../src/processes/ingress-workers.js';
import { acceptedPacket, parseRegistration, parseResponse, requestPacket } from '../../src/protocol/work-packet/messages.js';
import { packetReader } from '../helpers/work-packets.js';
import { hopgateOk } from '../helpers/cli-in-process.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
let echo: Awaited<ReturnType<typeof startEchoServer>>;
let dir: string;

before(async () => {
  echo = await startEchoServer();
  dir = mkdtempSync(join(tmpdir(), 'hopgate-rvrotate-'));
});

after(async () => {
  await echo.close();
  rmSync(dir, { recursive: true, force: true });
});

async function config(id: string, egress: string, pins: { linkFingerprint: string; nextLinkFingerprint?: string }): Promise<ReturnType<typeof IngressConfigSchema.parse>> {
  const input = { ...(await reverseIngressBase()), exits: [await reverseEntry(id, egress, 'de', pins)], reverse: { listen: { host: '127.0.0.1', port: 0 }, waitMs: 1000, heartbeatMs: 2000 } };
  return IngressConfigSchema.parse(input);
}

/**
 * `hopgate link-key …` as an operator runs it, through the CLI's own dispatch in this process (the exit it rotates
 * is a process of its own all the same; a Node start would cost ~0.4 s of CPU). The binary: link-key-cli.test.ts.
 */
async function linkKey(...args: string[]): Promise<string> {
  return (await hopgateOk(['link-key', ...args])).stdout;
}

async function tunnel(port: number, egress: string) {
  const { socket } = await SocksClient.createConnection({
    proxy: { host: '127.0.0.1', port, type: 5, userId: `${USER.login}-exitip-${egress}`, password: USER.password },
    command: 'connect',
    destination: { host: '127.0.0.1', port: echo.port },
    timeout: 30_000,
  });
  return socket;
}

/** Write `data` and read as many bytes back. */
async function echoBytes(socket: Awaited<ReturnType<typeof tunnel>>, data: Buffer): Promise<Buffer> {
  const got = new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    const on = (d: Buffer): void => {
      parts.push(d);
      n += d.length;
      if (n >= data.length) {
        socket.off('data', on);
        resolve(Buffer.concat(parts));
      }
    };
    socket.on('data', on);
    socket.once('close', () => reject(new Error(`tunnel closed after ${n} of ${data.length} bytes`)));
  });
  socket.write(data);
  return withTimeout(got, 15_000, `echo of ${data.length} bytes`);
}

const echoText = async (s: Awaited<ReturnType<typeof tunnel>>, msg: string): Promise<string> => (await echoBytes(s, Buffer.from(msg))).toString();

/**
 * New tunnels one after another (each: SOCKS5 through the ingress, a line echoed, closed) until
 * stopped or `max` of them: every failure is kept with the phase it happened in.
 */
function steadyTunnels(port: number, egress: string, max = 400) {
  let stop = false;
  let phase = 'before';
  /** The phase of the tunnel under way, if one is. */
  let running: string | undefined;
  const done: Record<string, number> = {};
  const failures: string[] = [];
  const run = (async () => {
    for (let i = 0; i < max && !stop; i++) {
      const at = phase;
      running = at;
      try {
        const s = await tunnel(port, egress);
        try {
          const msg = `steady-${i}`;
          const back = await echoText(s, msg);
          if (back !== msg) throw new Error(`echoed ${back}`);
        } finally {
          s.destroy();
        }
        done[at] = (done[at] ?? 0) + 1;
      } catch (err) {
        failures.push(`${at} #${i}: ${(err as Error).message}`);
      }
      running = undefined;
      await new Promise((r) => setTimeout(r, 10)); // pacing of the loop, not a wait for anything
    }
  })();
  return {
    phase: (p: string) => (phase = p),
    done,
    failures,
    /**
     * Until a tunnel begun after this call has come through in the current phase (two more if one of this phase
     * is under way: the loop runs one at a time), or one failed (the test's failures assertion says which).
     */
    another: async (what: string): Promise<void> => {
      const p = phase;
      const need = (done[p] ?? 0) + (running === p ? 2 : 1);
      const failed = failures.length;
      await eventually(what, () => (done[p] ?? 0) >= need || failures.length > failed, { timeoutMs: 15_000 });
    },
    stop: async () => {
      stop = true;
      await run;
    },
  };
}

/** Replace `file` in one rename, as an operator's copy into place would: a check never sees half of it. */
function put(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

/** The key of each link of `id` open at the ingress, and whether it still takes streams. */
function ingressLinks(ing: Ingress, id: string): Array<{ fingerprint: string; open: boolean }> {
  return ing.runtime.reverse!.registry.linkKeys(id);
}

test('a running reverse exit takes its promoted key without a restart: a live tunnel finishes intact, no new tunnel fails, then only new-key links and the retired key refused', { timeout: 120_000 }, async () => {
  const keys = join(dir, 'exit-keys');
  const old = loadOrCreateLinkIdentity(keys, 'hopgate reverse exit rk'); // what the exit makes on its first start
  const ing = await Ingress.start(await config('rk', '127.0.0.51', { linkFingerprint: old.fingerprint }), createLogger('silent'));
  const tunnelPort = ing.runtime.reverse!.tunnelPort!;
  const port = ing.ports()[0]!;
  const argv = [process.execPath, cli, 'exit', '--connect-to', `127.0.0.1:${tunnelPort}`, '--id', 'rk', '--ca', tunnelCert().cert, '--links', '2', '--state-dir', keys, '--link-keys-every-ms', '200', '--egress', '127.0.0.51', '--allow-target', '127.0.0.0/8', '--admin', '127.0.0.1:0', '--log-level', 'info'];
  const proc = await startProc('reverse exit', argv, { ready: /^\{/, env: { HOPGATE_EXIT_TOKEN: TOKEN }, timeoutMs: 60_000 });
  const steady = steadyTunnels(port, '127.0.0.51');
  let thief: ReverseExitClient | undefined;
  let live: Awaited<ReturnType<typeof tunnel>> | undefined;
  try {
    assert.ok(proc.readyLine.includes(old.fingerprint), proc.readyLine);
    const admin = (JSON.parse(proc.readyLine) as { admin: number }).admin;
    const health = async (): Promise<{ linkKey: string; previousKeyConnections: number; links: number }> => (await fetch(`http://127.0.0.1:${admin}/healthz`)).json() as never;
    assert.equal((await health()).linkKey, old.fingerprint);
    await eventually('two links on the current key', () => ingressLinks(ing, 'rk').filter((l) => l.open).length === 2, { timeoutMs: 20_000 });
    live = await tunnel(port, '127.0.0.51');
    live.on('error', () => undefined); // a cut shows as a short echo below
    assert.equal(await echoText(live, 'before the rotation'), 'before the rotation');

    // 1. stage: a next key on the exit's own disk, pinned beside the current one.
    const next = (JSON.parse(await linkKey('next', '--dir', keys, '--json')) as { next: string }).next;
    ing.reload(await config('rk', '127.0.0.51', { linkFingerprint: old.fingerprint, nextLinkFingerprint: next }));
    steady.phase('staged');
    assert.equal(await echoText(live, 'staged'), 'staged');
    await eventually('a new tunnel through while staged', () => (steady.done['staged'] ?? 0) > 0, { timeoutMs: 10_000 });

    // 2. promote on the running exit's key dir: its new links present the new key, its old-key links stop taking streams.
    await linkKey('promote', '--dir', keys);
    steady.phase('promoted');
    await eventually(
      'two links on the new key taking streams, none on the old one',
      () => {
        const l = ingressLinks(ing, 'rk').filter((x) => x.open);
        return l.length === 2 && l.every((x) => x.fingerprint === next);
      },
      { timeoutMs: 20_000 },
    );
    assert.ok(
      ingressLinks(ing, 'rk').some((l) => !l.open && l.fingerprint === old.fingerprint),
      'the old-key link carrying the live tunnel is still open, draining',
    );
    assert.equal(await echoText(live, 'promoted'), 'promoted');
    assert.equal((await health()).linkKey, next);
    // The other old-key link closes once a steady tunnel that was on it ends; the live tunnel's stays, draining.
    await eventually('one old-key connection left: the live tunnel\'s, draining', async () => (await health()).previousKeyConnections === 1, { timeoutMs: 10_000 });
    await steady.another('a new tunnel on the new key alone');

    // 3. retire: only the new key is pinned.
    ing.reload(await config('rk', '127.0.0.51', { linkFingerprint: next }));
    steady.phase('retired');
    const block = randomBytes(256 * 1024);
    const back = await echoBytes(live, block);
    assert.equal(createHash('sha256').update(back).digest('hex'), createHash('sha256').update(block).digest('hex'), 'the live tunnel carried 256 KiB intact after the retirement');
    live.end();
    await withTimeout(closed(live), 10_000, 'the live tunnel closed cleanly');
    await eventually(
      'only new-key links left (the drained one closed after its tunnel)',
      () => {
        const l = ingressLinks(ing, 'rk');
        return l.length === 2 && l.every((x) => x.open && x.fingerprint === next);
      },
      { timeoutMs: 20_000 },
    );
    await eventually('no old-key connection at the exit', async () => (await health()).previousKeyConnections === 0);
    const scraped = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
    assert.match(scraped, /hopgate_exit_link_key_connections\{key="current"\} 2\n/);
    assert.match(scraped, /hopgate_exit_link_key_connections\{key="previous"\} 0\n/);
    await steady.another('a new tunnel with only new-key links left');
    await steady.stop();
    assert.deepEqual(steady.failures, [], 'no new tunnel failed during the rotation');
    for (const p of ['before', 'staged', 'promoted', 'retired']) assert.ok((steady.done[p] ?? 0) > 0, `new tunnels ran while ${p}: ${JSON.stringify(steady.done)}`);
    assert.match(proc.stderr(), /link key promoted/, 'the exit said it took the new key');

    // The retired key presenting again (a thief with the old key file and the token): refused.
    thief = startReverseExit(tunnelPort, 'rk', '127.0.0.51', { mode: 'link', links: 1, identity: old, backoffMs: 5000, maxBackoffMs: 5000 });
    await eventually('the retired key refused', () => thief!.lastRefusal, { timeoutMs: 10_000 });
    assert.match(thief.lastRefusal!, /AUTH_FAILED: exit 'rk': the peer's certificate .* is not pinned/);
    assert.ok(ingressLinks(ing, 'rk').every((l) => l.fingerprint === next));
    assert.equal(readFileSync(join(keys, LINK_IDENTITY_FILE), 'utf8').includes(old.key), false, 'the old private key is gone from the exit\'s disk');
  } finally {
    live?.destroy();
    await steady.stop();
    await thief?.stop(0);
    if (proc.alive()) await stopGracefully(proc, 2000);
    await ing.shutdown(0);
  }
});

test('a corrupt key file keeps the working key (logged once, no crash); two promotions in a row: old links serve until the last key is pinned, then it takes over', { timeout: 90_000 }, async () => {
  const keys = join(dir, 'twice');
  const warnings: string[] = [];
  const source = new LinkIdentitySource(keys, 'reverse exit twice', (err) => warnings.push(err.message));
  const a = source.current();
  const ing = await Ingress.start(await config('tw', '127.0.0.52', { linkFingerprint: a.fingerprint }), createLogger('silent'));
  const port = ing.ports()[0]!;
  const logged: string[] = [];
  const log = { warn: (_o: object, m: string) => logged.push(m), info: (_o: object, m: string) => logged.push(m), error: (_o: object, m: string) => logged.push(m) };
  const exit = startReverseExit(ing, 'tw', '127.0.0.52', { mode: 'link', links: 2, identity: source, keyCheckMs: 100, backoffMs: 100, maxBackoffMs: 300, log });
  let steady: ReturnType<typeof steadyTunnels> | undefined;
  const file = join(keys, LINK_IDENTITY_FILE);
  const good = readFileSync(file, 'utf8');
  try {
    await withTimeout(exit.ready, 10_000, 'the exit registered');
    await eventually('two links', () => ingressLinks(ing, 'tw').filter((l) => l.open).length === 2);
    steady = steadyTunnels(port, '127.0.0.52');

    // Garbage, then a key that does not match its certificate: neither is taken, each said once.
    put(file, 'not a key at all\n');
    await eventually('the garbage reported', () => warnings.length >= 1);
    const other: LinkIdentity = createLinkIdentity('someone else');
    put(file, a.key + other.cert);
    await eventually('the mismatched key reported', () => warnings.length >= 2);
    await new Promise((r) => setTimeout(r, 400)); // a window of several checks (100 ms) in which the same bad file must NOT be reported again
    assert.equal(warnings.length, 2, `each bad version reported once: ${warnings.join(' | ')}`);
    assert.match(warnings[0]!, /not a link identity/);
    assert.match(warnings[1]!, /does not match/);
    assert.equal(source.current().fingerprint, a.fingerprint, 'the working key stays in force');
    assert.ok(ingressLinks(ing, 'tw').filter((l) => l.open).every((l) => l.fingerprint === a.fingerprint));
    // The file removed: no new key is made behind the operator's back (it would not be pinned).
    rmSync(file);
    await eventually('the removal reported', () => warnings.length >= 3);
    assert.match(warnings[2]!, /gone; the key in force .* stays/);
    assert.equal(source.current().fingerprint, a.fingerprint);
    put(file, good); // the same key again: nothing to rotate

    // Two promotions in a row: B staged and pinned, then B promoted, C staged and C promoted in one go
    // (what `hopgate link-key` runs, without a turn of the event loop between: the exit never sees B).
    const b = stageNextLinkIdentity(keys, 'reverse exit twice').fingerprint;
    ing.reload(await config('tw', '127.0.0.52', { linkFingerprint: a.fingerprint, nextLinkFingerprint: b }));
    promoteNextLinkIdentity(keys);
    const c = stageNextLinkIdentity(keys, 'reverse exit twice').fingerprint;
    promoteNextLinkIdentity(keys);
    steady.phase('twice');
    await eventually('the exit tried the last key and was refused', () => /is not pinned/.test(exit.lastRefusal ?? ''), { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 1000)); // a window of refused dials (backoff 100-300 ms) in which the links it has must NOT be lost
    assert.ok(ingressLinks(ing, 'tw').some((l) => l.open), 'links on a pinned key keep taking streams');
    assert.ok(exit.stats().links > 0);

    assert.ok(ingressLinks(ing, 'tw').every((l) => l.fingerprint === a.fingerprint), 'B was never dialled');
    assert.ok(logged.some((m) => /refused this exit on its new link key; connections on the previous key keep serving/.test(m)), logged.join(' | '));
    // The operator pins C as the next key (B, never used, is dropped): C takes over; then A is retired.
    ing.reload(await config('tw', '127.0.0.52', { linkFingerprint: a.fingerprint, nextLinkFingerprint: c }));
    steady.phase('pinned-c');
    await eventually(
      'two links on the last key taking streams',
      () => {
        const l = ingressLinks(ing, 'tw').filter((x) => x.open);
        return l.length === 2 && l.every((x) => x.fingerprint === c);
      },
      { timeoutMs: 20_000 },
    );
    ing.reload(await config('tw', '127.0.0.52', { linkFingerprint: c }));
    steady.phase('retired');
    await eventually('only last-key links', () => {
      const l = ingressLinks(ing, 'tw');
      return l.length === 2 && l.every((x) => x.open && x.fingerprint === c);
    });
    await steady.another('a new tunnel with only last-key links');
    await steady.stop();
    assert.deepEqual(steady.failures, [], 'no new tunnel failed');
    const done = steady.done;
    for (const p of ['before', 'twice', 'pinned-c', 'retired']) assert.ok((done[p] ?? 0) > 0, `new tunnels ran while ${p}: ${JSON.stringify(done)}`);
    assert.ok(logged.some((m) => /link key promoted/.test(m)), logged.join(' | '));
  } finally {
    await steady?.stop();
    await exit.stop(0);
    await ing.shutdown(0);
  }
});

test('two ingress workers: a promotion under a steady run of new tunnels — none fails, the old links drain once the new ones are up', { timeout: 90_000 }, async () => {
  const keys = join(dir, 'workers');
  const source = new LinkIdentitySource(keys, 'reverse exit on two workers');
  const a = source.current();
  const file = join(dir, 'two-workers.yaml');
  const adminPort = await freePort(); // /metrics: the revision both workers have, so a reload is awaited, not guessed
  const write = async (pins: { linkFingerprint: string; nextLinkFingerprint?: string }): Promise<void> => {
    const input = { ...(await reverseIngressBase()), exits: [await reverseEntry('w2', '127.0.0.53', 'de', pins)], reverse: { listen: { host: '127.0.0.1', port: 0 }, waitMs: 1000, heartbeatMs: 2000 }, metrics: { host: '127.0.0.1', port: adminPort } };
    put(file, JSON.stringify(input)); // by rename, as an operator would: every one must reach the workers
  };
  /** The configuration revision in force in both workers (the lower one), or undefined if one did not report. */
  const revision = async (): Promise<number | undefined> => {
    const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`, { headers: { connection: 'close' } })).text();
    if (!/^hopgate_ingress_metrics_workers_reporting 2$/m.test(text)) return undefined;
    const m = /^hopgate_config_revision (\d+)$/m.exec(text);
    return m ? Number(m[1]) : undefined;
  };
  /** Write `pins` and wait until the file watch has reloaded both workers with them. */
  const reloadWith = async (pins: { linkFingerprint: string; nextLinkFingerprint?: string }, what: string): Promise<void> => {
    const was = await eventually('the revision both workers have', revision);
    await write(pins);
    await eventually(`both workers reloaded: ${what}`, async () => ((await revision()) ?? was) > was, { timeoutMs: 10_000, everyMs: 50 });
  };
  await write({ linkFingerprint: a.fingerprint });
  let ing: RunningIngress | undefined;
  let exit: ReverseExitClient | undefined;
  let steady: ReturnType<typeof steadyTunnels> | undefined;
  const byKey = (fp: string): number => exit!.connectionKeys().filter((k) => k.state === 'idle' && k.fingerprint === fp).length;
  try {
    ing = await startIngressProcesses(file, { workers: 2, log: createLogger('silent') });
    exit = startReverseExit(ing.tunnelPort!, 'w2', '127.0.0.53', { mode: 'link', links: 2, identity: source, keyCheckMs: 100, backoffMs: 100, maxBackoffMs: 300 });
    await withTimeout(exit.ready, 10_000, 'the exit registered');
    await eventually('two links', () => exit!.stats().links === 2, { timeoutMs: 10_000 });
    steady = steadyTunnels(ing.ports[0], '127.0.0.53');
    await steady.another('a new tunnel before the rotation');

    const b = stageNextLinkIdentity(keys, 'reverse exit on two workers').fingerprint;
    steady.phase('staged');
    await reloadWith({ linkFingerprint: a.fingerprint, nextLinkFingerprint: b }, 'the next key pinned');
    await steady.another('a new tunnel with the next key pinned in both workers');
    promoteNextLinkIdentity(keys);
    steady.phase('promoted');
    await eventually('two links on the new key, none on the old one taking streams', () => byKey(b) === 2 && byKey(a.fingerprint) === 0, { timeoutMs: 20_000 });
    await steady.another('a new tunnel on the new-key links');
    steady.phase('retired');
    await reloadWith({ linkFingerprint: b }, 'the old key retired');
    await eventually('the old links closed', () => exit!.connectionKeys().every((k) => k.fingerprint === b), { timeoutMs: 10_000 });
    await steady.another('a new tunnel with only the new key pinned');
    await steady.stop();
    assert.deepEqual(steady.failures, [], 'no new tunnel failed');
    for (const p of ['before', 'staged', 'promoted', 'retired']) assert.ok((steady.done[p] ?? 0) > 0, `new tunnels ran while ${p}: ${JSON.stringify(steady.done)}`);
    assert.equal(exit.stats().links, 2);
  } finally {
    await steady?.stop();
    await exit?.stop(200);
    await ing?.stop();
  }
});

test('an exit on work connections (ingresses before links) rotates the same way: its pool on the new key comes up, the old one is withdrawn, no new tunnel fails', { timeout: 60_000 }, async () => {
  const keys = join(dir, 'work');
  const source = new LinkIdentitySource(keys, 'reverse exit on work connections');
  const a = source.current();
  const ing = await Ingress.start(await config('wk', '127.0.0.54', { linkFingerprint: a.fingerprint }), createLogger('silent'));
  const exit = startReverseExit(ing, 'wk', '127.0.0.54', { mode: 'work', pool: 4, identity: source, keyCheckMs: 100, backoffMs: 100, maxBackoffMs: 300 });
  let steady: ReturnType<typeof steadyTunnels> | undefined;
  const idleOn = (fp: string): number => exit.connectionKeys().filter((k) => k.state === 'idle' && k.fingerprint === fp).length;
  try {
    await withTimeout(exit.ready, 10_000, 'the exit registered');
    await eventually('a pool of 4', () => idleOn(a.fingerprint) === 4);
    steady = steadyTunnels(ing.ports()[0]!, '127.0.0.54');
    await steady.another('a new tunnel before the rotation');
    const b = stageNextLinkIdentity(keys, 'reverse exit on work connections').fingerprint;
    ing.reload(await config('wk', '127.0.0.54', { linkFingerprint: a.fingerprint, nextLinkFingerprint: b }));
    promoteNextLinkIdentity(keys);
    steady.phase('promoted');
    await eventually('the pool on the new key, none left on the old one', () => exit.connectionKeys().every((k) => k.fingerprint === b) && idleOn(b) === 4, { timeoutMs: 20_000 });
    await steady.another('a new tunnel on the new-key pool');
    ing.reload(await config('wk', '127.0.0.54', { linkFingerprint: b }));
    steady.phase('retired');
    await steady.another('a new tunnel with only the new key pinned');
    await steady.stop();
    assert.deepEqual(steady.failures, [], 'no new tunnel failed');
    for (const p of ['before', 'promoted', 'retired']) assert.ok((steady.done[p] ?? 0) > 0, `new tunnels ran while ${p}: ${JSON.stringify(steady.done)}`);
  } finally {
    await steady?.stop();
    await exit.stop(0);
    await ing.shutdown(0);
  }
});

test('a request that crossed the exit\'s withdrawal of a work connection (a rotation, a drain) is served, and its tunnel is not cut 2 s later', { timeout: 30_000 }, async () => {
  const cert = tunnelCert();
  let exit: ReverseExitClient | undefined;
  let server: ReturnType<typeof createTlsServer> | undefined;
  const lateEcho = new Promise<string>((resolve, reject) => {
    server = createTlsServer({ cert: cert.pem, key: readFileSync(cert.key) }, (s) => {
      s.on('error', () => undefined);
      const next = packetReader(s);
      void (async () => {
        parseRegistration(await next());
        s.write(acceptedPacket(1000)); // an ingress before links: a work connection
        const withdrawal = await next();
        assert.equal(withdrawal.props.get('drain'), '1');
        // The ingress had handed this connection a request before the withdrawal reached it.
        s.write(requestPacket(9, { target: { host: '127.0.0.1', port: echo.port, kind: 'ipv4' }, purpose: 'connect' }));
        const res = parseResponse(await next());
        if (!res.ok) throw new Error(`refused: ${res.code}`);
        s.removeAllListeners('data');
        s.once('close', () => reject(new Error('the tunnel was cut')));
        s.on('data', (d: Buffer) => resolve(d.toString()));
        await new Promise((r) => setTimeout(r, 2500)); // a window in which the tunnel must NOT be cut (the 2 s of the title)
        s.write('still here after 2.5 s');
      })().catch(reject);
    });
    server.listen(0, '127.0.0.1', () => {
      exit = startReverseExit((server!.address() as { port: number }).port, 'x1', '127.0.0.55', { mode: 'work', pool: 1 });
      exit.ready.then(() => exit!.stop(10_000)).catch(() => undefined); // withdraws its idle work connection; tunnels get 10 s
    });
  });
  try {
    assert.equal(await withTimeout(lateEcho, 15_000, 'the crossed request\'s tunnel'), 'still here after 2.5 s');
  } finally {
    server?.close();
    await exit?.stop(0);
  }
});
