/**
 * `hopgate up`: the whole network on one machine with embedded defaults, and
 * ready-to-paste usage. `--json` prints the stable contract for scripts.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { readStateFile, writeFileAtomic } from '../shared/state-file.js';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { hashPassword } from '../shared/auth/password-hash.js';
import type { ExitCreateInput, ForwardExitCreateInput, SettingKey } from '../control/api-schemas.js';
import { DEFAULT_CONTROL_PORT } from '../control/defaults.js';
import { startControlPlane } from '../control/control-plane.js';
import { generateExitToken } from '../control/token.js';
import { ReverseExitClient } from '../exit/reverse-client.js';
import { TargetPolicy } from '../shared/net/target-policy.js';
import { renderIngressConfig, renderYaml } from '../control/render.js';
import type { ControlStore } from '../control/store/index.js';
import { startControlledIngress, type ControlledIngress } from '../processes/controlled-ingress.js';
import { fail, intFlag, parse, workersFlag } from './args.js';
import { startWhoami } from './demo-target.js';
import { onShutdownSignal } from './signals.js';
import { ensureSelfSignedCert } from './tls-cert.js';
import { EXIT_LOGIN, exitConfig, startExitLinks } from './exit.js';
import { LinkIdentitySource } from '../link/identity.js';
import { ExitLinkKeys } from '../exit/link-keys.js';
import { Ingress } from '../ingress/ingress.js';
import { createLogger } from '../shared/log.js';
import { boundPort } from '../shared/listen.js';
import { createServer } from 'node:net';
import { MAX_LISTEN_PORTS } from '../shared/schema/ingress-config.js';
import { humanBanner, type UpContract } from './up-banner.js';
import { TEST_HASH_COST_ENV, testHashCost } from './test-hash-cost.js';

export type { UpContract } from './up-banner.js';

/** The demo network's exits: id, egress address, country. */
const DEMO_EXITS: ReadonlyArray<readonly [string, string, string]> = [
  ['us-1', '127.0.0.2', 'us'],
  ['us-2', '127.0.0.3', 'us'],
  ['de-1', '127.0.0.4', 'de'],
  ['de-2', '127.0.0.5', 'de'],
  ['gb-1', '127.0.0.6', 'gb'],
];
/** A reverse exit: it opens no port and dials the ingress, as one behind NAT would (needs the TLS certificate). */
const DEMO_REVERSE_EXIT = ['nl-1', '127.0.0.7', 'nl'] as const;

interface DemoState {
  username: string;
  password: string;
  hash?: string;
  exitSecret?: string;
  /** The demo reverse exit's token, and its hash as the control plane keeps it (made once: a restart changes nothing). */
  reverseToken?: string;
  reverseTokenHash?: string;
  /** Bearer token of the ingress admin port (/v1/ports/…, read by `hopgate ports` from ingress.yaml). */
  ingressAdminToken?: string;
}

const DemoStateSchema = z.object({
  username: z.string().min(1),
  password: z.string().min(1),
  hash: z.string().optional(),
  exitSecret: z.string().optional(),
  reverseToken: z.string().optional(),
  reverseTokenHash: z.string().optional(),
  ingressAdminToken: z.string().optional(),
});

/** The demo credentials kept in the state dir; a corrupt file is moved aside (logged) and new ones are made. */
function demoCredentials(stateDir: string): DemoState {
  const r = readStateFile(join(stateDir, DEMO_FILE), DemoStateSchema, createLogger('info', { role: 'up' }), 'demo credentials');
  if (r.status === 'ok') return r.value;
  return { username: 'demo', password: randomBytes(9).toString('base64url') };
}

const DEMO_FILE = 'demo-user.json';
const saveDemo = (stateDir: string, demo: DemoState): void => writeFileAtomic(join(stateDir, DEMO_FILE), JSON.stringify(demo));

export async function upCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, {
    json: { type: 'boolean', default: false },
    ports: { type: 'string', default: '8000-8099' },
    host: { type: 'string', default: '127.0.0.1' },
    workers: { type: 'string' },
    'state-dir': { type: 'string', default: '.hopgate' },
    'demo-port': { type: 'string', default: '7780' },
    'admin-port': { type: 'string', default: '7790' },
    'control-port': { type: 'string', default: String(DEFAULT_CONTROL_PORT) },
    'exit-port': { type: 'string', default: '7001' },
    'exit-link-port': { type: 'string' },
    'tunnel-port': { type: 'string', default: '7443' },
  });
  // Every number is checked before anything starts: a bad one is one line and exit 2, not a half-started network.
  const port = (flag: 'demo-port' | 'admin-port' | 'control-port' | 'exit-port' | 'exit-link-port' | 'tunnel-port', text: string): number => intFlag(`--${flag}`, text, 1, 65535, 'a port');
  const workersArg = workersFlag(values.workers);
  const [demoPort, adminPort, controlPort, tunnelPort] = [port('demo-port', values['demo-port']), port('admin-port', values['admin-port']), port('control-port', values['control-port']), port('tunnel-port', values['tunnel-port'])];
  const exitPort = port('exit-port', values['exit-port']);
  // Each demo exit takes links on its own address, next to its SOCKS5 port.
  const exitLinkPort = values['exit-link-port'] !== undefined ? port('exit-link-port', values['exit-link-port']) : exitPort + 1;
  if (exitLinkPort > 65535) fail(`--exit-port ${exitPort} leaves no port for the exits' links (--exit-link-port defaults to --exit-port + 1): give --exit-link-port P`);
  // Otherwise the second listen on each exit's address fails after the first exits started.
  if (exitLinkPort === exitPort) fail('--exit-link-port must differ from --exit-port (the exits take SOCKS5 and links on the same address)');
  const m = /^(\d+)-(\d+)$/.exec(values.ports);
  if (!m) fail('--ports must look like 8000-8099');
  const ports: [number, number] = [Number(m[1]), Number(m[2])];
  // What the ingress configuration takes, less port 0 (any free one: the banner names real ports); refused
  // here, not by the control plane after the exits started.
  if (!(ports[0] >= 1 && ports[0] <= ports[1] && ports[1] <= 65535 && ports[1] - ports[0] < MAX_LISTEN_PORTS)) {
    fail(`--ports must be FIRST-LAST with 1 ≤ FIRST ≤ LAST ≤ 65535, at most ${MAX_LISTEN_PORTS} ports`);
  }
  const stateDir = resolve(values['state-dir']);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 }); // credentials, tokens and the database live here

  let cost: ReturnType<typeof testHashCost>;
  try {
    cost = testHashCost(process.env[TEST_HASH_COST_ENV]);
  } catch (err) {
    fail((err as Error).message);
  }
  if (cost) process.stderr.write(`hopgate up: ${TEST_HASH_COST_ENV}=${cost.ln}: the demo's password, exit secret and reverse token are hashed at a test cost (production: 15); for tests only\n`);

  const demo = demoCredentials(stateDir);
  demo.hash ??= await hashPassword(demo.password, cost);
  saveDemo(stateDir, demo);
  const tls = ensureSelfSignedCert(join(stateDir, 'tls'));

  // Five exits on their own loopback addresses, so a target sees which one carried it.
  const secret = demo.exitSecret ?? randomBytes(18).toString('base64url');
  demo.exitSecret = secret;
  demo.ingressAdminToken ??= `hgadm_${randomBytes(24).toString('base64url')}`;
  saveDemo(stateDir, demo);
  if (!demo.reverseToken || !demo.reverseTokenHash) {
    demo.reverseToken = generateExitToken();
    demo.reverseTokenHash = await hashPassword(demo.reverseToken, cost);
  }
  saveDemo(stateDir, demo);
  const exitHash = await hashPassword(secret, cost);
  // Dual stack when this host has IPv6 loopback: every exit also egresses from ::1, so IPv6 targets work.
  const ip6 = (await hasLoopback6()) ? '::1' : undefined;
  // Links (issue 19): the ingress and each exit have an identity in the state dir (made on the first
  // start), pinned both ways through the control plane: the exits' pins are in its exit inventory
  // (rendered to the ingress), the ingress's are what it reports, read by each exit with its link token.
  const ingressLinkDir = join(stateDir, 'ingress-link');
  const ingressLink = new LinkIdentitySource(ingressLinkDir, 'hopgate up ingress');
  const exits = await Promise.all(
    DEMO_EXITS.map(async ([id, ip, country]) => {
      const cfg = exitConfig({ host: ip, port: exitPort, egress: ip, egress6: ip6, allowFrom: ['127.0.0.1/32'], secretHash: exitHash, allowTargets: DEMO_TARGETS });
      const log = createLogger('warn', { role: 'exit', exit: id });
      const node = await Ingress.start(cfg, log);
      const identity = new LinkIdentitySource(join(stateDir, 'exits', id), `hopgate up exit ${id}`, (err) => log.warn({ err: err.message }, 'link identity unreadable; the key in force stays'));
      // No ingress pinned yet: the pins come from the control plane below, before the ingress starts.
      const links = await startExitLinks(cfg, { host: ip, port: exitLinkPort, identity: identity.current(), allowIngress: [], allowFrom: ['127.0.0.1/32'] }, log).catch(async (err: unknown) => {
        await node.shutdown(0);
        throw err;
      });
      return { id, ip, country, node, links, identity, log, keys: undefined as ExitLinkKeys | undefined, link: { port: links.port, fingerprint: identity.current().fingerprint } };
    }),
  );
  const [revId, revIp, revCountry] = DEMO_REVERSE_EXIT;
  const reverse = tls ? { id: revId, token: demo.reverseToken, tokenHash: demo.reverseTokenHash } : undefined;

  // The control plane on SQLite in the state dir holds the demo network; the ingress takes
  // its configuration from it over the config stream, like any ingress node.
  const cp = await startControlPlane({
    stateDir,
    host: '127.0.0.1',
    port: controlPort,
    adminToken: process.env.HOPGATE_ADMIN_TOKEN,
    logger: createLogger('warn', { role: 'control' }),
  });
  let token: string;
  try {
    token = await seedDemo(cp.store, {
      settings: {
        listen: { host: values.host, ports },
        ...(tls ? { tls } : {}),
        // The demo and its tests reach targets on loopback; production configs don't allow it.
        targetPolicy: { allow: ['127.0.0.0/8', '::1/128'] },
        log: { level: 'warn', access: false },
        // /metrics, /healthz and the live port table `hopgate ports` reads.
        metrics: { host: '127.0.0.1', port: adminPort, token: demo.ingressAdminToken },
        // The tunnel port reverse exits dial (TLS with the same certificate).
        ...(reverse ? { reverse: { listen: { host: '127.0.0.1', port: tunnelPort } } } : {}),
      },
      exits: exits.map((e) => ({ id: e.id, kind: 'hopgate' as const, host: e.ip, port: exitPort, username: EXIT_LOGIN, password: secret, egressIp: e.ip, ...(ip6 ? { egressIp6: ip6 } : {}), country: e.country, via: [], tags: ['demo'], drain: false, link: e.link })),
      reverse: reverse && { id: reverse.id, kind: 'reverse', tokenHash: reverse.tokenHash, from: ['127.0.0.0/8'], maxConnections: 4096, egressIp: revIp, ...(ip6 ? { egressIp6: ip6 } : {}), country: revCountry, via: [], tags: ['demo'], drain: false },
      user: { login: demo.username, passwordHash: demo.hash },
      ingressLink: ingressLink.fingerprints(),
    });
    // Each exit reads the ingresses' pins with its own link token, now (before the ingress dials) and then every few seconds.
    for (const e of exits) {
      const t = await cp.store.issueExitLinkToken(e.id);
      e.keys = new ExitLinkKeys({ listener: e.links, identity: e.identity, control: { url: cp.url, token: t }, everyMs: 5000, log: e.log });
      await e.keys.refresh();
      e.keys.start();
    }
    // A copy of the rendered configuration, for `hopgate ports` and for reading (the control plane is the source).
    const rendered = renderIngressConfig(await cp.store.snapshot());
    // With this node's link identity, as the ingress runs it (the control plane renders what every node shares).
    const local = { ...rendered, config: { ...rendered.config, links: { identityDir: ingressLinkDir } } };
    writeFileAtomic(join(stateDir, 'ingress.yaml'), `# written by hopgate up from the control plane (${cp.url}); not read back: change things through the API or the CLI\n${renderYaml(local)}`);
  } catch (err) {
    await cp.close();
    throw err;
  }

  const whoami = await startWhoami('127.0.0.1', demoPort).catch(() => undefined);
  const whoamiPort = boundPort(whoami);
  // The same target on [::1] (same port) where IPv6 loopback exists, so `curl -x … http://[::1]:7780/` shows an IPv6 egress.
  const whoami6 = ip6 && whoamiPort !== undefined ? await startWhoami(ip6, whoamiPort).catch(() => undefined) : undefined;
  const workers = workersArg ?? availableParallelism();
  let ingress: ControlledIngress;
  try {
    ingress = await startControlledIngress({
      controlUrl: cp.url,
      token,
      stateDir,
      workers,
      log: createLogger('warn', { role: 'ingress' }),
      bootWaitMs: 10_000,
      links: { identityDir: ingressLinkDir },
    });
  } catch (err) {
    await cp.close();
    whoami?.close();
    whoami6?.close();
    throw err;
  }
  // The reverse exit dials in once the tunnel port listens; ready when its first work connection is accepted.
  const reverseExit = reverse && startDemoReverseExit(reverse.id, reverse.token, revIp, ip6, tunnelPort, readFileSync(tls!.cert), workers);
  if (reverseExit) await Promise.race([reverseExit.ready, new Promise((r) => setTimeout(r, 5000).unref())]);
  const contract: UpContract = {
    ingress: { host: values.host, ports: ingress.ports, tls: tls !== undefined, ...(tls ? { tlsCert: tls.cert } : {}) },
    users: [{ username: demo.username, password: demo.password }],
    exits: [
      ...exits.map((e) => ({ id: e.id, egressIp: e.ip, ...(ip6 ? { egressIp6: ip6 } : {}), country: e.country, kind: 'hopgate' as const, link: e.link })),
      ...(reverse ? [{ id: revId, egressIp: revIp, ...(ip6 ? { egressIp6: ip6 } : {}), country: revCountry, kind: 'reverse' as const }] : []),
    ],
    control: { url: cp.url, adminToken: cp.token.token },
    ...(whoamiPort !== undefined ? { demoTarget: `http://127.0.0.1:${whoamiPort}/` } : {}),
    ...(whoami6 && whoamiPort !== undefined ? { demoTarget6: `http://[::1]:${whoamiPort}/` } : {}),
  };
  process.stdout.write(values.json ? JSON.stringify(contract) + '\n' : humanBanner(contract, workers));
  onShutdownSignal(async () => {
    for (const e of exits) e.keys?.stop();
    await reverseExit?.stop(1000);
    await ingress.stop();
    await Promise.all(exits.flatMap((e) => [e.links.close(2000), e.node.shutdown(2000)]));
    await cp.close();
    whoami?.close();
    whoami6?.close();
  });
}

/** Targets the demo exits may reach: the demo target and anything else on loopback. */
const DEMO_TARGETS = ['127.0.0.0/8', '::1/128'];

/** Whether ::1 can be bound here (IPv6 disabled hosts and some containers have none). */
function hasLoopback6(): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(0, '::1', () => probe.close(() => resolve(true)));
  });
}

/** Over links (issue 19): one per ingress worker (at least 2), each carrying many tunnels. */
function startDemoReverseExit(id: string, token: string, egress: string, egress6: string | undefined, tunnelPort: number, ca: Buffer, workers: number): ReverseExitClient {
  return new ReverseExitClient({
    host: '127.0.0.1',
    port: tunnelPort,
    id,
    token,
    ca,
    mode: 'link',
    links: Math.max(2, workers),
    egress,
    egress6,
    policy: new TargetPolicy({ allow: DEMO_TARGETS, deny: [], ports: [] }),
    backoffMs: 100,
    maxBackoffMs: 2000,
    log: createLogger('warn', { role: 'exit', mode: 'reverse', exit: id }),
  }).start();
}


/**
 * Make the control plane hold the demo network, idempotently: settings, the
 * exits (five it dials, one reverse exit when TLS is on) and the demo user (created, or brought back to the files in the
 * state dir), and an ingress node 'local' whose fresh token is returned.
 */
async function seedDemo(
  store: ControlStore,
  want: {
    settings: Partial<Record<SettingKey, unknown>>;
    exits: ForwardExitCreateInput[];
    reverse: (ExitCreateInput & { kind: 'reverse'; tokenHash: string }) | undefined;
    user: { login: string; passwordHash: string };
    /** The ingress's link fingerprints: recorded for node 'local' now, so the exits pin it before its first dial (it reports them itself when it connects). */
    ingressLink: string[];
  },
): Promise<string> {
  const actor = 'operator';
  const have = await store.getSettings();
  const patch: Partial<Record<SettingKey, unknown>> = {};
  for (const [k, v] of Object.entries(want.settings) as Array<[SettingKey, unknown]>) {
    if (JSON.stringify(have[k]) !== JSON.stringify(v)) patch[k] = v;
  }
  await store.patchSettings(patch, actor);
  for (const e of want.exits) {
    const cur = await store.getExit(e.id);
    if (!cur) await store.createExit(e, actor);
    else if (cur.host !== e.host || cur.port !== e.port || cur.password !== e.password || cur.egressIp !== e.egressIp || cur.egressIp6 !== (e.egressIp6 ?? null) || cur.kind !== e.kind || cur.link?.port !== e.link?.port || cur.link?.fingerprint !== e.link?.fingerprint) {
      await store.updateExit(e.id, { host: e.host, port: e.port, password: e.password ?? null, egressIp: e.egressIp ?? null, egressIp6: e.egressIp6 ?? null, kind: e.kind, username: e.username ?? null, link: e.link ?? null }, actor);
    }
  }
  if (want.reverse) {
    const { tokenHash, ...r } = want.reverse;
    const cur = await store.getExit(r.id);
    if (!cur) await store.createExit(r, actor, tokenHash);
    else {
      if (cur.tokenHash !== tokenHash) await store.setExitTokenHash(r.id, tokenHash, actor);
      if (cur.egressIp6 !== (r.egressIp6 ?? null)) await store.updateExit(r.id, { egressIp6: r.egressIp6 ?? null }, actor);
    }
  }
  // Its exits in the demo's order: port base+1 is us-1 … base+5 gb-1, base+6 nl-1, as the banner prints.
  const order = [...want.exits.map((e) => e.id), ...(want.reverse ? [want.reverse.id] : [])];
  const user = await store.getCustomerByLogin(want.user.login);
  if (!user) {
    await store.createCustomer({ login: want.user.login, status: 'active', sources: [], sourceAuth: false, exits: order, pools: [], exitHeader: false }, want.user.passwordHash, actor);
  } else {
    if (user.passwordHash !== want.user.passwordHash) await store.setPasswordHash(user.id, want.user.passwordHash, actor);
    // Untouched demo lists (empty, or the five exits of a demo before the reverse one) follow the demo;
    // a list the operator changed stays as it is.
    const before = want.exits.map((e) => e.id).join();
    const untouched = user.exits.length === 0 || user.exits.join() === before;
    if (untouched && user.pools.length === 0 && user.exits.join() !== order.join()) await store.setAssignment(user.id, { exits: order, pools: [] }, actor);
  }
  if (!(await store.getNode('local'))) await store.createNode({ id: 'local', name: 'hopgate up' }, actor);
  await store.recordNodeAck('local', undefined, undefined, want.ingressLink);
  return (await store.issueNodeToken('local'))!;
}
