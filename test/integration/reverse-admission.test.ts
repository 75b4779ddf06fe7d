/**
 * Reverse-tunnel registrations under attack: "unknown exit" and "wrong token"
 * answer identically and take the same time; a flood of bad registrations
 * from one source is throttled and does not hold up a good exit registering
 * from another source.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { startTestIngress, type TestIngress } from '../helpers/ingress.js';
import { TOKEN, tunnelCert, tunnelPortOf } from '../helpers/reverse.js';
import { hashPassword } from '../../src/shared/auth/password-hash.js';
import { registrationPacket } from '../../src/protocol/work-packet/messages.js';
import { parsePacket } from '../../src/protocol/work-packet/codec.js';
import { startIngressProcesses } from '../../src/processes/ingress-workers.js';
import { createLogger } from '../../src/shared/log.js';
import { eventually } from '../helpers/eventually.js';

/** Production-like cost: the flood is about its price. */
const COST = { ln: 14, r: 8, p: 1 };
let ing: TestIngress;
let port: number;

before(async () => {
  const cert = tunnelCert();
  const tokenHash = await hashPassword(TOKEN, COST);
  ing = await startTestIngress({
    tls: { cert: cert.cert, key: cert.key },
    exits: [
      { id: 'good-1', kind: 'reverse', tokenHash, egressIp: '127.0.0.7', country: 'de' },
      { id: 'target-1', kind: 'reverse', tokenHash, egressIp: '127.0.0.8', country: 'de' },
    ],
    limits: { exitProbeIntervalMs: 0 },
    reverse: { listen: { host: '127.0.0.1', port: 0 }, heartbeatMs: 5000 },
  });
  port = tunnelPortOf(ing.ingress);
});

after(async () => {
  await ing?.stop();
});

interface Registered {
  /** 'accepted', a refusal's "CODE: message", or 'closed'. */
  answer: string;
  ms: number;
}

/** One registration over a fresh TLS connection from `from`; timed from the registration packet to the answer. */
function register(exit: string, token: string, from: string, timeoutMs = 30_000, to = port): Promise<Registered> {
  return new Promise((resolve) => {
    let t0 = performance.now();
    let buf = Buffer.alloc(0);
    const raw = connect({ host: '127.0.0.1', port: to, localAddress: from });
    raw.on('error', () => undefined);
    const s = tlsConnect({ socket: raw, ca: tunnelCert().pem, servername: 'localhost', checkServerIdentity: () => undefined });
    const done = (answer: string): void => {
      clearTimeout(timer);
      s.destroy();
      resolve({ answer, ms: performance.now() - t0 });
    };
    const timer = setTimeout(() => done('timeout'), timeoutMs);
    s.on('error', () => undefined);
    s.once('secureConnect', () => {
      t0 = performance.now();
      s.write(registrationPacket({ exit, token }));
    });
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const p = parsePacket(buf);
      if (p.kind !== 'ok') return;
      const v = p.value;
      done(v.mode === 'keepalive' ? 'accepted' : `${v.props.get('status')}: ${v.props.get('message')}`);
    });
    s.on('close', () => done('closed'));
  });
}

const FLOOD = 200;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

test('"unknown exit" and "wrong token" answer identically and take the same time', { timeout: 60_000 }, async (t) => {
  const unknown: number[] = [];
  const wrong: number[] = [];
  const answers = new Set<string>();
  for (let i = 0; i < 7; i++) {
    // The same exit name asked both ways would differ in the name: ask for 'target-1' and a name that is not there,
    // and compare the answers with the name taken out.
    const u = await register(`nothere-${i}`, 'wrong-token', `127.0.6.${i + 1}`);
    const w = await register('target-1', 'wrong-token', `127.0.7.${i + 1}`);
    unknown.push(u.ms);
    wrong.push(w.ms);
    answers.add(u.answer.replace(`nothere-${i}`, 'X')).add(w.answer.replace('target-1', 'X'));
  }
  assert.equal(answers.size, 1, [...answers].join(' | '));
  assert.match([...answers][0]!, /^AUTH_FAILED: /);
  t.diagnostic(`median unknown exit ${median(unknown).toFixed(1)} ms, wrong token ${median(wrong).toFixed(1)} ms`);
  const ratio = median(wrong) / median(unknown);
  assert.ok(ratio > 0.4 && ratio < 2.5, `wrong token ${median(wrong).toFixed(1)} ms vs unknown exit ${median(unknown).toFixed(1)} ms`);
});

test('200 bad registrations from one source: throttled, and a good exit from another source registers promptly', { timeout: 120_000 }, async (t) => {
  const calm = await register('good-1', TOKEN, '127.0.0.21');
  assert.equal(calm.answer, 'accepted');
  // The first check of a token is cached: a fresh ingress state is not available here, so the
  // good exit's bound below is against a check that pays scrypt (a wrong token elsewhere).
  const paid = await register('target-1', 'not-the-token', '127.0.0.22');
  const refusedBefore = ing.ingress.runtime.reverse!.registry.stats().refused;
  // 200, not 500: each is a TLS handshake in this process. Unthrottled, 200 would pay scrypt two at a time (~100 checks'
  // time, far past the bound below), and the ~20 that pay it before the throttle bites still leave 160 to refuse early.
  const flood = Array.from({ length: FLOOD }, (_, i) => register(i % 2 ? `nothere-${i}` : 'target-1', `bad-${i}`, '127.0.0.1'));
  // The good exit comes once the flood is being answered (the ingress is busy with it), not after a guessed pause.
  await eventually('the flood being refused', () => ing.ingress.runtime.reverse!.registry.stats().refused >= refusedBefore + 10, { timeoutMs: 20_000 });
  const good = await register('target-1', TOKEN, '127.0.0.9');
  const answers = await Promise.all(flood);
  assert.equal(good.answer, 'accepted');
  const bound = Math.max(6000, 6 * paid.ms + 500);
  assert.ok(good.ms < bound, `good registration took ${good.ms.toFixed(0)} ms during the flood (bound ${bound.toFixed(0)}; one check ${paid.ms.toFixed(0)} ms)`);
  assert.ok(answers.every((a) => a.answer !== 'accepted'), 'no bad registration accepted');
  const limited = answers.filter((a) => a.answer.startsWith('RATE_LIMITED')).length;
  assert.ok(limited >= 0.8 * FLOOD, `only ${limited} of ${FLOOD} bad registrations refused before scrypt`);
  t.diagnostic(`one check ${paid.ms.toFixed(0)} ms; good registration ${good.ms.toFixed(0)} ms during the flood; ${limited} of ${FLOOD} refused before scrypt`);
});

test('failed registrations are throttled across two ingress workers', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hopgate-revadm-'));
  const cert = tunnelCert();
  const file = join(dir, 'two-workers.yaml');
  writeFileSync(file, JSON.stringify({
    listen: { host: '127.0.0.1', ports: [0, 0] },
    targetPolicy: { allow: ['127.0.0.0/8'] },
    log: { level: 'silent', access: false },
    limits: { exitProbeIntervalMs: 0 },
    tls: { cert: cert.cert, key: cert.key },
    exits: [{ id: 'target-1', kind: 'reverse', tokenHash: await hashPassword(TOKEN, { ln: 10, r: 8, p: 1 }), egressIp: '127.0.0.8', country: 'de' }],
    reverse: { listen: { host: '127.0.0.1', port: 0 }, heartbeatMs: 5000 },
  }));
  const two = await startIngressProcesses(file, { workers: 2, log: createLogger('silent') });
  try {
    const to = two.tunnelPort!;
    const seen: string[] = [];
    for (let i = 0; i < 16 && !seen.at(-1)?.startsWith('RATE_LIMITED'); i++) seen.push((await register('target-1', `bad-${i}`, '127.0.0.5', 10_000, to)).answer.split(':')[0]!);
    // The default allowance (5 failures of one exit from one source), in all, whichever worker the primary handed each to.
    assert.deepEqual(seen, ['AUTH_FAILED', 'AUTH_FAILED', 'AUTH_FAILED', 'AUTH_FAILED', 'AUTH_FAILED', 'RATE_LIMITED']);
  } finally {
    await two.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
