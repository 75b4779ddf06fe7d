/**
 * Render the standalone ingress configuration (src/shared/schema/ingress-config.ts)
 * from a store snapshot: settings give listen/limits/targetPolicy/…, customers
 * become users, exits become exits. The output is the *input* form (defaults
 * left to the ingress), validated against IngressConfigSchema before it leaves.
 *
 * Drained exits stay in, marked `drain: true`, and stay in customers' lists: the
 * ingress takes no new connections through them but keeps every port's meaning,
 * serving a drained exit's port by a replacement (docs/ROUTING.md, stable ports).
 * A customer whose every listed exit is drained and who has no pools is rendered
 * suspended, with a warning (nothing of theirs could carry a connection).
 */
import { stringify } from 'yaml';
import { IngressConfigSchema, UserSchema, type IngressConfig, type IngressConfigInput } from '../shared/schema/ingress-config.js';
import type { CustomerRecord, ExitRecord, StoreSnapshot } from './store/records.js';
import type { SettingKey } from './api-schemas.js';
import { checkReverseConfig } from '../shared/schema/check-reverse-config.js';
import { ExitIndex } from '../shared/exits/exit-index.js';
import { renderSources, sourceAuthConflicts } from './source-claims.js';

export interface Rendered {
  readonly revision: number;
  readonly config: IngressConfigInput;
  readonly warnings: string[];
}

/** Every exit, drained ones marked: the ingress keeps their ports' meaning. */
export function renderExits(exits: readonly ExitRecord[]): Array<Record<string, unknown>> {
  return exits.map((e) => (e.drain ? { ...renderExit(e), drain: true } : renderExit(e)));
}

export function renderExit(e: ExitRecord): Record<string, unknown> {
  const place = {
    ...(e.egressIp !== null ? { egressIp: e.egressIp } : {}),
    ...(e.egressIp6 !== null ? { egressIp6: e.egressIp6 } : {}),
    ...(e.country !== null ? { country: e.country } : {}),
    ...(e.state !== null ? { state: e.state } : {}),
    ...(e.city !== null ? { city: e.city } : {}),
    ...(e.asn !== null ? { asn: e.asn } : {}),
  };
  if (e.reverse) {
    return {
      id: e.id,
      kind: 'reverse',
      tokenHash: e.tokenHash,
      ...(e.reverse.from.length > 0 ? { from: e.reverse.from } : {}),
      maxConnections: e.reverse.maxConnections,
      ...(e.reverse.targets ? { targets: e.reverse.targets } : {}),
      ...(e.link ? { linkFingerprint: e.link.fingerprint, ...(e.link.nextFingerprint !== null ? { nextLinkFingerprint: e.link.nextFingerprint } : {}) } : {}),
      ...place,
    };
  }
  return {
    id: e.id,
    kind: e.kind,
    host: e.host,
    port: e.port,
    ...(e.username !== null ? { username: e.username } : {}),
    ...(e.password !== null ? { password: e.password } : {}),
    ...place,
    ...(e.viaFull.length > 0 ? { via: e.viaFull } : {}),
    // The pins the ingress dials the exit's link port with (the SOCKS5 port stays beside it).
    ...(e.link && e.link.port !== null ? { link: { port: e.link.port, fingerprint: e.link.fingerprint, ...(e.link.nextFingerprint !== null ? { nextFingerprint: e.link.nextFingerprint } : {}) } } : {}),
  };
}

/** What the whole-configuration check needs of an exit (each exit's own fields were validated when written). */
export type ExitSummary = Pick<ExitRecord, 'id' | 'kind' | 'egressIp' | 'drain'>;

/**
 * Why settings and exits would not make a valid ingress configuration, or undefined:
 * the settings against the schema, then the ingress's own rules across exits (an egress
 * address used twice, the reverse section's rules). Linear in the exits and
 * light: it runs inside every exit or settings change. Customers are not needed for it.
 */
export function settingsAndExitsProblem(settings: Partial<Record<SettingKey, unknown>>, exits: readonly ExitSummary[]): string | undefined {
  const r = IngressConfigSchema.safeParse({ version: 1, ...settings, users: [], exits: [] });
  if (!r.success) return r.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`).join('; ');
  for (const site of r.data.reverse?.publish ?? []) {
    if (exits.some((e) => e.id === site.exit && e.drain)) return `reverse.publish: site ${site.host} names exit '${site.exit}', which is drained (drained exits leave the configuration)`;
  }
  // The ingress's own rules, on what they read of the rendered exits (drained ones included, marked):
  // the exit index (ids once each, live egress addresses once each) and the reverse section's (ids and kinds).
  const rendered = exits.map((e) => ({ id: e.id, kind: e.kind, ...(e.egressIp !== null ? { egressIp: e.egressIp } : {}), ...(e.drain ? { drain: true } : {}) })) as IngressConfig['exits'];
  try {
    new ExitIndex(rendered);
    checkReverseConfig({ ...r.data, exits: rendered });
  } catch (err) {
    return (err as Error).message;
  }
  return undefined;
}

/** Ids of the exits that take new connections (not drained). */
export function liveExitIds(exits: readonly ExitRecord[]): Set<string> {
  return new Set(exits.filter((e) => !e.drain).map((e) => e.id));
}

/** One customer as an ingress user; a warning is pushed when the customer had to be rendered suspended. */
export function renderUser(
  c: CustomerRecord,
  liveIds: ReadonlySet<string>,
  warnings?: string[],
  nowMs = Date.now(),
  conflicts?: ReadonlyMap<string, string>,
): Record<string, unknown> {
  // Drained exits stay listed so later ports keep their meaning.
  const listed = c.exits;
  let status = c.status;
  if (c.exits.length > 0 && !c.exits.some((id) => liveIds.has(id)) && c.pools.length === 0 && status === 'active') {
    status = 'suspended';
    warnings?.push(`customer '${c.login}': every assigned exit is drained; rendered suspended`);
  }
  // Rows from before the source rules: never an open proxy, never a misattributed source.
  const src = renderSources(c, conflicts, warnings);
  if (src.suspend && status === 'active') {
    status = 'suspended';
    warnings?.push(`customer '${c.login}': no source range left that a connection can come from; rendered suspended`);
  }
  // The control plane's over-quota flag (all ingresses' usage); past its end the ingress ignores it anyway.
  const over = c.quotaExceededUntil !== null && Date.parse(c.quotaExceededUntil) > nowMs ? c.quotaExceededUntil : undefined;
  return {
    login: c.login,
    ...(c.passwordHash !== null ? { passwordHash: c.passwordHash } : {}),
    ...(src.sources.length > 0 ? { sources: src.sources } : {}),
    ...(src.sourceAuth ? { sourceAuth: true } : {}),
    ...(c.maxConnections !== null ? { maxConnections: c.maxConnections } : {}),
    ...(status !== 'active' ? { status } : {}),
    ...(listed.length > 0 ? { exits: listed } : {}),
    ...(c.pools.length > 0 ? { pools: c.pools } : {}),
    ...(c.portBase !== null ? { portBase: c.portBase } : {}),
    ...(c.portScheme !== null ? { portScheme: c.portScheme } : {}),
    ...(c.places !== null ? { places: c.places } : {}),
    ...(c.bandwidth !== null ? { bandwidth: c.bandwidth } : {}),
    ...(c.quota !== null ? { quota: c.quota } : {}),
    ...(over !== undefined && c.quota !== null ? { quotaExceededUntil: over } : {}),
    ...(c.exitHeader ? { exitHeader: true } : {}),
  };
}

export function renderIngressConfig(s: StoreSnapshot): Rendered {
  const warnings: string[] = [];
  const liveIds = liveExitIds(s.exits);
  const exits = renderExits(s.exits);
  const conflicts = sourceAuthConflicts(s.customers);
  const users = s.customers.map((c) => renderUser(c, liveIds, warnings, Date.now(), conflicts)).filter((u) => {
    // As the stream does: one customer's unusable row (no password, no usable source) must not fail everyone's configuration.
    const r = UserSchema.safeParse(u);
    if (!r.success) warnings.push(`customer '${String(u.login)}': not a valid ingress user (${r.error.issues[0]?.message ?? 'invalid'}); left out`);
    return r.success;
  });
  const config = { version: 1, ...s.settings, users, exits } as IngressConfigInput;
  // Everything was validated on the way in; this catches a combination that is not valid as a whole.
  IngressConfigSchema.parse(config);
  return { revision: s.revision, config, warnings };
}

export function renderYaml(r: Rendered): string {
  const head = [
    `# hopgate ingress configuration rendered by the control plane, revision ${r.revision}`,
    ...r.warnings.map((w) => `# warning: ${w}`),
  ].join('\n');
  return `${head}\n${stringify(r.config, { lineWidth: 0 })}`;
}
