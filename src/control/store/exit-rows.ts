/**
 * Exits between the API's shapes and the `exits` table: one row shape for
 * both forward exits (the ingress dials host:port) and reverse exits (they
 * dial the ingress with a token; host '' and port 0). Fields of the other
 * kind are refused here, with the field named, rather than stored and ignored.
 */
import { HOPGATE_EXIT_LOGIN } from '../../shared/exits/hopgate-login.js';
import type { ExitCreateInput, ExitPatchInput, ExitViewT } from '../api-schemas.js';
import { ApiError } from '../errors.js';
import type { ExitsTable } from '../tables.js';
import type { HopConfig } from '../../shared/schema/ingress-config.js';
import { json, parseJson } from './json-columns.js';
import type { ExitRecord } from './records.js';
import { sameFingerprint } from '../../shared/fingerprint.js';

type Targets = { allow: string[]; deny: string[]; ports: number[] };

export function exitRecord(r: ExitsTable, customers: number): ExitRecord {
  const viaFull = parseJson<HopConfig[]>(r.via, []);
  const reverse = r.kind === 'reverse';
  return {
    id: r.id,
    kind: r.kind,
    host: reverse ? null : r.host,
    port: reverse ? null : Number(r.port),
    username: r.username,
    passwordSet: r.password !== null,
    password: r.password,
    egressIp: r.egress_ip,
    egressIp6: r.egress_ip6,
    country: r.country,
    state: r.state,
    city: r.city,
    asn: r.asn === null ? null : Number(r.asn),
    via: viaFull.map((h) => ({ kind: h.kind, host: h.host, port: h.port, username: h.username ?? null, passwordSet: h.password !== undefined })),
    viaFull,
    drain: Number(r.drain) === 1,
    tags: parseJson<string[]>(r.tags, []),
    reverse: reverse
      ? {
          from: parseJson<string[]>(r.reverse_from, []),
          maxConnections: Number(r.max_work_connections),
          targets: parseJson<Targets | null>(r.reverse_targets, null),
          tokenSet: r.token_hash !== null,
          tokenChangedAt: r.token_changed_at,
        }
      : null,
    link:
      r.link_fingerprint === null || r.link_fingerprint === undefined
        ? null
        : { port: reverse || r.link_port === null ? null : Number(r.link_port), fingerprint: r.link_fingerprint, nextFingerprint: r.link_next_fingerprint ?? null, tokenSet: (r.link_token_hash ?? null) !== null },
    tokenHash: r.token_hash,
    customers,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** The API view: no secrets. */
export function exitView(e: ExitRecord): ExitViewT {
  const { password: _p, viaFull: _v, tokenHash: _t, ...view } = e;
  return view;
}

/** The row of a new exit. A reverse exit needs `tokenHash` (the caller issued its token). */
export function newExitRow(input: ExitCreateInput, tokenHash: string | undefined, at: string): ExitsTable {
  const common = {
    id: input.id,
    egress_ip: input.egressIp ?? null,
    egress_ip6: input.egressIp6 ?? null,
    country: input.country ?? null,
    state: input.state ?? null,
    city: input.city ?? null,
    asn: input.asn ?? null,
    tags: json(input.tags),
    drain: input.drain ? 1 : 0,
    created_at: at,
    updated_at: at,
  };
  if (input.kind === 'reverse') {
    if (tokenHash === undefined) throw new Error('a reverse exit is created with its token hash');
    return {
      ...common,
      kind: 'reverse',
      host: '',
      port: 0,
      username: null,
      password: null,
      via: '[]',
      token_hash: tokenHash,
      token_changed_at: at,
      reverse_from: json(input.from),
      max_work_connections: input.maxConnections,
      reverse_targets: input.targets ? json(input.targets) : null,
      ...linkColumns('reverse', { fingerprint: input.linkFingerprint ?? null, next: input.nextLinkFingerprint ?? null }),
      link_token_hash: null,
    };
  }
  return {
    ...common,
    kind: input.kind,
    host: input.host,
    port: input.port,
    // A hopgate exit accepts one login; without it the exit could never be reached.
    username: input.username ?? (input.kind === 'hopgate' && input.password !== undefined ? HOPGATE_EXIT_LOGIN : null),
    password: input.password ?? null,
    via: json(input.via),
    token_hash: null,
    token_changed_at: null,
    reverse_from: null,
    max_work_connections: null,
    reverse_targets: null,
    ...linkColumns(input.kind, input.link ? { port: input.link.port, fingerprint: input.link.fingerprint, next: input.link.nextFingerprint ?? null } : null),
    link_token_hash: null,
  };
}

type LinkCols = Pick<ExitsTable, 'link_port' | 'link_fingerprint' | 'link_next_fingerprint'>;

/**
 * The link columns of an exit of `kind`; 400 where the ingress could not use them (only a
 * hopgate exit is dialled over a link, through its `via` hops if it has any) or where a "next"
 * key equals the current.
 */
export function linkColumns(kind: ExitsTable['kind'], link: { port?: number; fingerprint: string | null; next: string | null } | null): LinkCols {
  if (!link || link.fingerprint === null) {
    if (link?.next) throw new ApiError(400, 'invalid_request', 'a next link fingerprint needs a current one', 'body.nextLinkFingerprint');
    return { link_port: null, link_fingerprint: null, link_next_fingerprint: null };
  }
  if (kind !== 'hopgate' && kind !== 'reverse') throw new ApiError(400, 'invalid_request', 'body.link: only a hopgate exit has a link', 'body.link');
  if (link.next !== null && sameFingerprint(link.next, link.fingerprint)) throw new ApiError(400, 'invalid_request', 'the next link fingerprint is the current one', 'body.link');
  return { link_port: kind === 'reverse' ? null : (link.port ?? null), link_fingerprint: link.fingerprint, link_next_fingerprint: link.next };
}

const FORWARD_ONLY = ['kind', 'host', 'port', 'username', 'password', 'via', 'link'] as const;
const REVERSE_ONLY = ['from', 'maxConnections', 'targets', 'linkFingerprint', 'nextLinkFingerprint'] as const;

/** What a patch is checked against: the exit's kind and link columns as stored. */
export type PatchBase = Pick<ExitsTable, 'kind'> & LinkCols;

/** The columns a patch sets on `row`; 400 for a field the kind does not have. */
export function exitPatchSet(row: PatchBase, patch: ExitPatchInput, at: string): Partial<ExitsTable> {
  const kind = row.kind;
  const reverse = kind === 'reverse';
  for (const f of reverse ? FORWARD_ONLY : REVERSE_ONLY) {
    if (patch[f] === undefined) continue;
    const why = reverse
      ? f === 'kind'
        ? 'a reverse exit stays reverse (delete it and add a forward exit)'
        : 'a reverse exit has no address, credentials or hops: it dials the ingress'
      : 'only reverse exits have it';
    throw new ApiError(400, 'invalid_request', `body.${f}: ${why}`, `body.${f}`);
  }
  const set: Partial<ExitsTable> = { updated_at: at };
  if (patch.kind !== undefined) set.kind = patch.kind;
  if (patch.host !== undefined) set.host = patch.host;
  if (patch.port !== undefined) set.port = patch.port;
  if (patch.username !== undefined) set.username = patch.username;
  if (patch.password !== undefined) set.password = patch.password;
  if (patch.egressIp !== undefined) set.egress_ip = patch.egressIp;
  if (patch.egressIp6 !== undefined) set.egress_ip6 = patch.egressIp6;
  if (patch.country !== undefined) set.country = patch.country;
  if (patch.state !== undefined) set.state = patch.state;
  if (patch.city !== undefined) set.city = patch.city;
  if (patch.asn !== undefined) set.asn = patch.asn;
  if (patch.via !== undefined) set.via = json(patch.via);
  if (patch.tags !== undefined) set.tags = json(patch.tags);
  if (patch.drain !== undefined) set.drain = patch.drain ? 1 : 0;
  if (patch.from !== undefined) set.reverse_from = json(patch.from);
  if (patch.maxConnections !== undefined) set.max_work_connections = patch.maxConnections;
  if (patch.targets !== undefined) set.reverse_targets = patch.targets === null ? null : json(patch.targets);
  // The link as it would stand after the patch, checked against the kind after it too.
  const link =
    patch.link !== undefined
      ? patch.link && { port: patch.link.port, fingerprint: patch.link.fingerprint, next: patch.link.nextFingerprint ?? null }
      : { port: row.link_port ?? undefined, fingerprint: patch.linkFingerprint !== undefined ? patch.linkFingerprint : row.link_fingerprint, next: patch.nextLinkFingerprint !== undefined ? patch.nextLinkFingerprint : row.link_next_fingerprint };
  Object.assign(set, linkColumns(patch.kind ?? kind, link));
  return set;
}
