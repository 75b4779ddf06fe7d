/**
 * `hopgate control`: the control plane — asset store (SQLite file by default,
 * PostgreSQL by URL), migrations applied on start, REST API with OpenAPI.
 * docs/CONTROL.md.
 */
import { createLogger } from '../shared/log.js';
import { DEFAULT_CONTROL_HOST, DEFAULT_CONTROL_PORT, startControlPlane } from '../control/control-plane.js';
import { CONTROL_USAGE } from './control-usage.js';
import { fail, intFlag, millisFlag, parse } from './args.js';
import { onShutdownSignal } from './signals.js';
import { MIN_REPORT_INTERVAL_MS } from '../shared/control-protocol.js';


export async function controlCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, {
    db: { type: 'string' },
    listen: { type: 'string', default: `${DEFAULT_CONTROL_HOST}:${DEFAULT_CONTROL_PORT}` },
    'state-dir': { type: 'string', default: '.hopgate' },
    json: { type: 'boolean', default: false },
    'log-level': { type: 'string', default: 'info' },
    'stats-interval-ms': { type: 'string' },
    'health-history-days': { type: 'string' },
    'db-wait-ms': { type: 'string' },
    'stats-retention-days': { type: 'string' },
    'legitimacy-group': { type: 'string' },
    'legitimacy-interval-ms': { type: 'string' },
    'legitimacy-half-life-h': { type: 'string' },
    'legitimacy-warmup-min': { type: 'string' },
    'no-legitimacy': { type: 'boolean', default: false },
    'self-service-prefix': { type: 'string' },
    'public-host': { type: 'string' },
    'nats-url': { type: 'string' },
    'nats-creds': { type: 'string' },
    'nats-user': { type: 'string' },
    'nats-stream': { type: 'string' },
    'nats-subject-prefix': { type: 'string' },
    'nats-requests': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    process.stdout.write(CONTROL_USAGE);
    return;
  }
  const m = /^(.+):(\d+)$/.exec(values.listen);
  if (!m) fail('--listen must be HOST:PORT');
  // Past 65535 it was ERR_SOCKET_BAD_PORT once the store was open: a stack trace.
  const listenPort = intFlag('--listen', m[2]!, 0, 65535, 'its port');
  const host = m[1]!.replace(/^\[|\]$/g, '');
  const logger = createLogger(values['log-level'], { role: 'control' });
  const num = (flag: string, v: string | undefined, scale: number): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!(n > 0)) fail(`--${flag} must be a positive number`);
    return Math.round(n * scale);
  };
  // Each arms a timer (and the intervals a round of work): whole milliseconds up to the timers' cap, checked before anything starts.
  const ms = (flag: 'stats-interval-ms' | 'legitimacy-interval-ms' | 'db-wait-ms', min: number): number | undefined => {
    const v = values[flag];
    return v === undefined ? undefined : millisFlag(`--${flag}`, v, min);
  };
  const statsIntervalMs = ms('stats-interval-ms', 100);
  // Also every ingress's report interval (sent in `hello`): what an ingress takes.
  const intervalMs = ms('legitimacy-interval-ms', MIN_REPORT_INTERVAL_MS);
  // 0 would be no connect timeout at all for pg (connectionTimeoutMillis).
  const dbWaitMs = ms('db-wait-ms', 1);
  // Whole days, rounded: under half a day would be 0 (the default, 30, silently) and past ~24 million a cutoff before any date.
  const days = (flag: string, v: string | undefined): number | undefined => {
    const n = num(flag, v, 1);
    if (n !== undefined && !(n >= 1 && n <= 36_500)) fail(`--${flag} must be a number of days from 1 to 36500`);
    return n;
  };
  const healthHistoryDays = days('health-history-days', values['health-history-days']);
  const statsRetentionDays = days('stats-retention-days', values['stats-retention-days']);
  // Under half a millisecond rounds to 0: falsy, the default silently.
  const wholeMs = (flag: string, v: string | undefined, scale: number): number | undefined => {
    const n = num(flag, v, scale);
    if (n === 0) fail(`--${flag} must be a positive number`);
    return n;
  };
  const halfLifeMs = wholeMs('legitimacy-half-life-h', values['legitimacy-half-life-h'], 3_600_000);
  const warmupMs = wholeMs('legitimacy-warmup-min', values['legitimacy-warmup-min'], 60_000);
  const legitimacy = {
    enabled: !values['no-legitimacy'],
    ...(values['legitimacy-group'] ? { group: values['legitimacy-group'] } : {}),
    analysis: { ...(intervalMs !== undefined ? { intervalMs } : {}), ...(halfLifeMs ? { halfLifeMs } : {}), ...(warmupMs ? { warmupMs } : {}) },
  };
  let selfServiceSourcePrefix: { ipv4: number; ipv6: number } | undefined;
  if (values['self-service-prefix'] !== undefined) {
    const p = /^(\d{1,2}),(\d{1,3})$/.exec(values['self-service-prefix']);
    if (!p) fail('--self-service-prefix must be V4,V6 prefix lengths, e.g. 24,48');
    selfServiceSourcePrefix = { ipv4: Number(p[1]), ipv6: Number(p[2]) };
  }
  if (values['nats-requests'] && !values['nats-url']) fail('--nats-requests needs --nats-url');
  const cp = await startControlPlane({
    db: values.db,
    stateDir: values['state-dir'],
    host,
    port: listenPort,
    adminToken: process.env.HOPGATE_ADMIN_TOKEN,
    logger,
    ...(statsIntervalMs !== undefined ? { statsIntervalMs } : {}),
    legitimacy,
    ...(dbWaitMs !== undefined ? { dbWaitMs } : {}),
    ...(healthHistoryDays ? { healthHistoryDays } : {}),
    ...(statsRetentionDays ? { statsRetentionDays } : {}),
    ...(selfServiceSourcePrefix ? { selfServiceSourcePrefix } : {}),
    ...(values['public-host'] ? { publicHost: publicHostOf(values['public-host']) } : {}),
    ...(values['nats-url']
      ? {
          jetstream: {
            url: values['nats-url'],
            ...(values['nats-creds'] ? { credsFile: values['nats-creds'] } : {}),
            ...(values['nats-user'] ? { user: values['nats-user'], pass: process.env.HOPGATE_NATS_PASSWORD ?? '' } : {}),
            ...(values['nats-stream'] ? { stream: values['nats-stream'] } : {}),
            ...(values['nats-subject-prefix'] ? { subjectPrefix: values['nats-subject-prefix'] } : {}),
          },
        }
      : {}),
    ...(values['nats-requests'] ? { natsRequests: {} } : {}),
  });
  const revision = await cp.store.revision();
  const mig = cp.store.migration;
  if (values.json) {
    process.stdout.write(
      JSON.stringify({ url: cp.url, db: cp.dbDescription, tokenFile: cp.token.file ?? null, tokenFrom: cp.token.source, revision, migrations: { applied: mig.applied, ms: Math.round(mig.ms) } }) + '\n',
    );
  } else {
    const where = cp.token.file ? `in ${cp.token.file}${cp.token.source === 'generated' ? ' (new, mode 0600)' : ''}` : 'from HOPGATE_ADMIN_TOKEN';
    const tokenExpr = cp.token.file ? `$(cat ${cp.token.file})` : '$HOPGATE_ADMIN_TOKEN';
    process.stdout.write(
      [
        `hopgate control plane on ${cp.url} — ${cp.dbDescription}, revision ${revision}`,
        `migrations: ${mig.applied.length > 0 ? `applied ${mig.applied.join(', ')}` : 'up to date'} (${Math.round(mig.ms)} ms)`,
        `operator token: ${where}`,
        `API description: ${cp.url}/openapi.json`,
        '',
        'try it:',
        `  export HOPGATE_CONTROL_URL=${cp.url} HOPGATE_ADMIN_TOKEN=${tokenExpr}`,
        '  hopgate user add alice',
        '  hopgate user list',
        '',
      ].join('\n'),
    );
  }
  onShutdownSignal(() => cp.close());
}

/** A host name or address for URLs: no scheme, port, path or credentials. */
function publicHostOf(text: string): string {
  const h = text.replace(/^\[|\]$/g, '');
  if (!/^[A-Za-z0-9.:-]{1,253}$/.test(h)) fail('--public-host must be a host name or an IP address (no scheme, port or path)');
  return h;
}
