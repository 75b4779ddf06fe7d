/**
 * `/metrics` of an ingress with several worker processes is the whole ingress, whichever
 * worker the scrape reaches (the admin port is shared like the proxy ports): counters and
 * per-exit gauges summed over the workers, the configuration revision not. Before, each
 * scrape answered with one worker's figures, so a Prometheus series jumped between workers
 * and `hopgate up`'s test saw an exit's link missing when the scrape hit the other worker.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { startCliIngress, type CliIngress } from '../helpers/cli-ingress.js';
import { curl } from '../helpers/curl.js';
import { freePort, listen0 } from '../helpers/ports.js';
import { USER } from '../helpers/ingress.js';

const REQUESTS = 20;
let target: Server;
let targetPort = 0;
let ingress: CliIngress;
let adminPort = 0;

before(async () => {
  target = createServer((_req, res) => res.end('ok'));
  targetPort = await listen0(target);
  adminPort = await freePort();
  ingress = await startCliIngress(2, { metrics: { host: '127.0.0.1', port: adminPort } });
});
after(async () => {
  await ingress?.stop();
  target?.close();
});

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('every scrape of a 2-worker ingress counts the sessions of both workers, and the revision once', async () => {
  for (let i = 0; i < REQUESTS; i++) {
    // A fresh connection each: the shared port hands them to both workers.
    const r = await curl(['-sS', '-x', `http://${USER.login}:${USER.password}@127.0.0.1:${ingress.port}`, `http://127.0.0.1:${targetPort}/`]);
    assert.equal(r.stdout, 'ok', r.stderr);
  }
  for (let i = 0; i < 6; i++) {
    const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`, { headers: { connection: 'close' } });
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.equal(sample(text, 'hopgate_ingress_sessions_total{protocol="http",result="ok"}'), REQUESTS, `scrape ${i}: sessions of every worker`);
    assert.equal(sample(text, 'hopgate_config_revision'), 1, `scrape ${i}: the revision in force, not a sum over workers`);
    assert.equal(sample(text, 'hopgate_ingress_metrics_workers_reporting'), 2, `scrape ${i}: both workers answered`);
  }
});

test('a burst of 40 concurrent scrapes: each answers for the whole ingress, and they share a few gatherings instead of 40', async () => {
  const gatherings = async (): Promise<number> => sample(await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text(), 'hopgate_ingress_metrics_gatherings_total') ?? NaN;
  const before = await gatherings();
  const texts = await Promise.all(Array.from({ length: 40 }, async () => (await fetch(`http://127.0.0.1:${adminPort}/metrics`, { headers: { connection: 'close' } })).text()));
  for (const text of texts) {
    assert.equal(sample(text, 'hopgate_ingress_sessions_total{protocol="http",result="ok"}'), REQUESTS);
    assert.equal(sample(text, 'hopgate_ingress_metrics_workers_reporting'), 2);
  }
  const used = (await gatherings()) - before - 1;
  assert.ok(used >= 1 && used <= 10, `40 scrapes took ${used} gatherings`);
});
