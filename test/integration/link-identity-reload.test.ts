/**
 * An ingress configured by YAML follows its own link key file (links.identityDir) without a
 * restart (issue 19, deliver 3). A file that turns unusable after a start — garbage, a key that
 * does not match its certificate, removed — keeps the key in force, and the ingress says so
 * once per bad version in its log, as the exits and controlled ingresses do.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { Ingress } from '../../src/ingress/ingress.js';
import { IngressConfigSchema } from '../../src/shared/schema/ingress-config.js';
import { LINK_IDENTITY_FILE } from '../../src/link/identity.js';
import { aliceHashed, USER } from '../helpers/ingress.js';
import { ingressIdentityDir, linkExitEntry, startLinkExit } from '../helpers/link-exits.js';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test("a YAML ingress's link key file turned to garbage: the key in force stays, and the log says so once", { timeout: 30_000 }, async () => {
  const id = ingressIdentityDir();
  const exit = await startLinkExit('us-9', '127.0.0.9', [id.identity.fingerprint]);
  cleanups.push(() => exit.stop());
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  const config = IngressConfigSchema.parse({
    listen: { host: '127.0.0.1', ports: [0, 0] },
    targetPolicy: { allow: ['127.0.0.0/8'] },
    log: { level: 'silent', access: false },
    links: { identityDir: id.dir, perExit: 1 },
    limits: { exitProbeIntervalMs: 0 },
    exits: [linkExitEntry(exit, 'us')],
    users: [{ login: USER.login, passwordHash: await aliceHashed() }],
  });
  const ing = await Ingress.start(config, pino({ level: 'warn' }, sink));
  cleanups.push(() => ing.shutdown(0));
  assert.equal(ing.runtime.links.fingerprint, id.identity.fingerprint);
  writeFileSync(join(id.dir, LINK_IDENTITY_FILE), 'not a key\n');
  // What a new link reads (the fingerprint is read the same way): twice, one log line.
  assert.equal(ing.runtime.links.fingerprint, id.identity.fingerprint, 'the key in force stays');
  assert.equal(ing.runtime.links.fingerprint, id.identity.fingerprint);
  const said = lines.filter((l) => l.includes('link identity unreadable'));
  assert.equal(said.length, 1, `one warning for the bad version: ${JSON.stringify(lines)}`);
  assert.match(said[0]!, /not a link identity/);
});
