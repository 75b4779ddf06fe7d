/**
 * A forward exit's own /metrics shows its links (issue 19, observability): links and streams
 * open, streams served and failed, payload bytes each way — through a real ingress and curl —
 * and `hopgate exit --link-listen … --admin PORT` serves them.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { startWhoami } from '../../src/cli/demo-target.js';
import { registerExitLinkMetrics } from '../../src/exit/link-metrics.js';
import { linkText } from '../../src/cli/ingress-quality.js';
import { curl } from '../helpers/curl.js';
import { eventually } from '../helpers/eventually.js';
import { startTestIngress, USER } from '../helpers/ingress.js';
import { ingressIdentityDir, linkExitEntry, startLinkExit } from '../helpers/link-exits.js';
import { freePort } from '../helpers/ports.js';
import { reapOnExit } from '../helpers/procs.js';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test("the exit's link figures: open links and streams, served and failed streams, bytes each way", async () => {
  const id = ingressIdentityDir();
  const exit = await startLinkExit('us-1', '127.0.0.2', [id.identity.fingerprint], { allowTargets: ['127.0.0.1/32'] });
  cleanups.push(() => exit.stop());
  const registry = new Registry();
  registerExitLinkMetrics(registry, exit.links);
  const TOKEN = 'admin-token-for-link-figures';
  const ingress = await startTestIngress({ links: { identityDir: id.dir, perExit: 1 }, exits: [linkExitEntry(exit, 'us')], limits: { exitProbeIntervalMs: 0 }, metrics: { host: '127.0.0.1', port: 0, token: TOKEN } });
  cleanups.push(() => ingress.stop());
  const whoami = await startWhoami('127.0.0.1', 0);
  cleanups.push(() => whoami.close());
  const proxy = `http://${USER.login}:${USER.password}@127.0.0.1:${ingress.port}`;

  const before = await registry.metrics();
  assert.equal(sample(before, 'hopgate_exit_link_open'), 0);
  for (let i = 0; i < 3; i++) assert.equal((await curl(['-x', proxy, `http://127.0.0.1:${(whoami.address() as AddressInfo).port}/`])).code, 0);
  // 127.0.0.3 is outside the exit's own allow list: refused there, a failed stream.
  await curl(['-x', proxy, 'http://127.0.0.3:9/']);

  await eventually('link figures', async () => {
    const m = await registry.metrics();
    return sample(m, 'hopgate_exit_link_streams_total{outcome="served"}') === 3 && sample(m, 'hopgate_exit_link_streams_total{outcome="failed"}') === 1;
  }, { timeoutMs: 5000 });
  const m = await registry.metrics();
  assert.equal(sample(m, 'hopgate_exit_link_open'), 1, 'every tunnel on the one link');
  assert.equal(sample(m, 'hopgate_exit_link_connections_total{outcome="accepted"}'), 1);
  const sent = sample(m, 'hopgate_exit_link_bytes_total{direction="sent"}') ?? 0;
  const received = sample(m, 'hopgate_exit_link_bytes_total{direction="received"}') ?? 0;
  // Three whoami answers came back through the exit, three requests went to it.
  assert.ok(sent > 3 * 40, `sent ${sent}`);
  assert.ok(received > 3 * 30, `received ${received}`);
  assert.equal(sent, exit.links.traffic().bytesSent);

  // The ingress's side, as `hopgate exits list --ingress URL` reads it (admin /v1/exits).
  const report = (await (await fetch(`http://127.0.0.1:${ingress.ingress.adminPort}/v1/exits`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { exits: Array<{ id: string; link: Record<string, number | null> | null }> };
  const row = report.exits.find((e) => e.id === 'us-1')!;
  assert.equal(row.link?.links, 1);
  assert.equal(row.link?.streams, 0, 'every tunnel has ended');
  assert.equal(row.link?.connects, 1);
  assert.equal(row.link?.bytesReceived, sent, 'what the exit sent is what the ingress received');
  assert.equal(linkText(row as never), '1 link, 0 streams' + (row.link?.rttMs === null ? '' : `, ${Math.round(Number(row.link?.rttMs))}ms`));
  assert.equal(linkText(undefined), '-');

  // A link that ends keeps what it carried in the totals of both sides.
  exit.links.breakAll();
  await eventually('the link gone on both sides', async () => exit.links.linkCount === 0 && (await report2()).link?.links === 0, { timeoutMs: 5000 });
  assert.equal(exit.links.traffic().bytesSent, sent, 'the exit keeps a closed link\'s bytes');
  assert.equal((await report2()).link?.bytesReceived, sent, 'the ingress keeps a closed link\'s bytes');
  assert.equal(sample(await registry.metrics(), 'hopgate_exit_link_bytes_total{direction="sent"}'), sent, 'the counter never goes back');

  async function report2(): Promise<{ link: Record<string, number | null> | null }> {
    const r = (await (await fetch(`http://127.0.0.1:${ingress.ingress.adminPort}/v1/exits`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { exits: Array<{ id: string; link: Record<string, number | null> | null }> };
    return r.exits.find((e) => e.id === 'us-1')!;
  }
});

test('hopgate exit --link-listen … --admin PORT serves the link figures in its /metrics', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hopgate-exit-metrics-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const secretFile = join(dir, 'secret');
  writeFileSync(secretFile, 'exit-metrics-secret-1234');
  const admin = await freePort();
  const main = new URL('../../src/cli/main.js', import.meta.url).pathname;
  const fp = ingressIdentityDir().identity.fingerprint;
  const proc = spawn(process.execPath, [main, 'exit', '--listen', '127.0.0.2:0', '--egress', '127.0.0.2', '--allow-from', '127.0.0.1/32', '--secret-file', secretFile, '--admin', String(admin), '--link-listen', '127.0.0.2:0', '--link-allow', fp, '--state-dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  reapOnExit(proc);
  cleanups.push(() => proc.kill('SIGKILL'));
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  // A bound on a process start (as startProc's), not an assertion: at load 20 this start took over 15 s.
  await eventually('exit ready', () => out.includes('"ready":true'), { timeoutMs: 60_000 });
  const text = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
  assert.equal(sample(text, 'hopgate_exit_link_open'), 0);
  assert.equal(sample(text, 'hopgate_exit_link_streams'), 0);
  assert.match(text, /# TYPE hopgate_exit_link_bytes_total counter/);
});
