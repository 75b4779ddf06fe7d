/**
 * Keys a username may carry, with the aliases large proxy providers use, so a
 * scraper configured for one of them works unchanged. Canonical name first.
 */
export type TagKey =
  | 'login'
  | 'country'
  | 'city'
  | 'state'
  | 'asn'
  | 'session'
  | 'sessionMinutes'
  | 'sessionMode'
  | 'exitIp'
  | 'exitNode'
  | 'port'
  | 'index'
  | 'minQuality'
  | 'exitHeader';

export const KEY_ALIASES: Readonly<Record<TagKey, readonly string[]>> = {
  login: ['user', 'customer', 'cust', 'login'],
  country: ['country', 'cc', 'region'],
  city: ['city'],
  state: ['state', 'st'],
  asn: ['asn'],
  session: ['session', 'sessid', 'sessionid', 'sid'],
  sessionMinutes: ['sesstime', 'sessionduration', 'sessttl', 'lifetime'],
  sessionMode: ['sessmode', 'sessionmode'],
  exitIp: ['exitip', 'exitnodeip', 'ip'],
  /** `exitnode-random` (random, whatever the port) or `exitnode-<IPv4>` (as exitip). */
  exitNode: ['exitnode'],
  port: ['port'],
  index: ['index', 'proxyindex'],
  minQuality: ['quality', 'minquality'],
  /** `hdr-1`: answer HTTP proxy requests with X-Hopgate-Exit; `hdr-0`: not, whatever the customer's setting. */
  exitHeader: ['hdr', 'exitheader'],
};

const BY_ALIAS = new Map<string, TagKey>();
for (const [key, aliases] of Object.entries(KEY_ALIASES) as Array<[TagKey, readonly string[]]>) {
  for (const a of aliases) BY_ALIAS.set(a, key);
}

/** Canonical key for an alias (case-insensitive), or undefined. */
export function keyForAlias(alias: string): TagKey | undefined {
  return BY_ALIAS.get(alias.toLowerCase());
}

/** Country codes people write that are not ISO 3166-1 alpha-2. */
export const COUNTRY_ALIASES: Readonly<Record<string, string>> = { uk: 'gb', el: 'gr' };
