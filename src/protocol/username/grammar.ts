/**
 * The username grammar (docs/USERNAME.md): `login` or `login-k-v-k-v…` or
 * `user-login-k-v…`. `-` separates keys and values; inside one value of a place
 * key, `,` or `;` separate alternatives (`country-us,de`: either country).
 * Pure: string in, tags or a reason out. Every refusal names the key at fault,
 * because a customer must be able to tell a typo in a tag from a wrong password.
 */
import { isIPv4 } from 'node:net';
import { COUNTRY_ALIASES, keyForAlias, type TagKey } from './aliases.js';

/** One value, or several alternatives (any of them will do), deduplicated, in the order given. */
export type OneOrMore<T> = T | readonly T[];

export interface UsernameTags {
  /** ISO 3166-1 alpha-2, lower case. */
  readonly country?: OneOrMore<string>;
  /** Lower case; `_` kept as the space stand-in (`new_york`). */
  readonly city?: OneOrMore<string>;
  readonly state?: OneOrMore<string>;
  readonly asn?: OneOrMore<number>;
  /** Sticky-session id, case preserved. */
  readonly session?: string;
  readonly sessionMinutes?: number;
  readonly sessionMode?: 'soft' | 'strict';
  /** Pin one exit by its egress IPv4 address. */
  readonly exitIp?: string;
  /** Pin by the port scheme's port number, as if the client had used that port. */
  readonly port?: number;
  /** Pin the n-th exit of the customer's ordered list (0 = random, as the base port; `exitnode-random`). */
  readonly index?: number;
  /** Only exits whose quality score (0-100, docs/ROUTING.md) is at least this. */
  readonly minQuality?: number;
  /** `hdr-1`/`hdr-0`: X-Hopgate-Exit on HTTP proxy answers, or not (undefined: the customer's setting). */
  readonly exitHeader?: boolean;
}

export interface ParsedUsername {
  readonly login: string;
  readonly tags: UsernameTags;
  /** The username exactly as received (for logs). */
  readonly raw: string;
}

export type UsernameResult =
  | { readonly ok: true; readonly value: ParsedUsername }
  | { readonly ok: false; readonly code: 'USERNAME_INVALID'; readonly reason: string };

export const MAX_USERNAME_LENGTH = 255;
export const MAX_SESSION_MINUTES = 1440;

const LOGIN_RE = /^[A-Za-z0-9_.@+]{1,64}$/;
const WORD_RE = /^[a-z0-9_]{1,64}$/;
const SESSION_RE = /^[A-Za-z0-9_]{1,64}$/;
const UINT_RE = /^\d{1,10}$/;

function bad(reason: string): UsernameResult {
  return { ok: false, code: 'USERNAME_INVALID', reason };
}

function intIn(text: string, min: number, max: number): number | undefined {
  if (!UINT_RE.test(text)) return undefined;
  const n = Number(text);
  return n >= min && n <= max ? n : undefined;
}

type MutableTags = { -readonly [K in keyof UsernameTags]: UsernameTags[K] };

/** Keys whose value may list alternatives. */
type PlaceKey = 'country' | 'city' | 'state' | 'asn';
const PLACE_KEYS: ReadonlySet<TagKey> = new Set<TagKey>(['country', 'city', 'state', 'asn']);
const ALTERNATIVES_RE = /[,;]/;

/** One place value, normalised, or an error text. */
function placeValue(key: PlaceKey, alias: string, value: string): string | number | { error: string } {
  const lower = value.toLowerCase();
  switch (key) {
    case 'country':
      if (!/^[a-z]{2}$/.test(lower)) return { error: `${alias}: "${value}" is not a two-letter country code` };
      return COUNTRY_ALIASES[lower] ?? lower;
    case 'city':
    case 'state':
      if (!WORD_RE.test(lower)) return { error: `${alias}: "${value}" may only hold letters, digits and _ (for spaces)` };
      return lower;
    case 'asn': {
      const n = intIn(lower.replace(/^as/, ''), 1, 4294967295);
      return n === undefined ? { error: `${alias}: "${value}" is not an AS number` } : n;
    }
  }
}

/** `us`, or `us,de;fr`: each alternative validated; one value stays a scalar. */
function setPlace(tags: MutableTags, key: PlaceKey, alias: string, value: string): string | undefined {
  const out: Array<string | number> = [];
  for (const part of value.split(ALTERNATIVES_RE)) {
    if (part === '') return `${alias}: empty alternative in "${value}" (doubled or trailing "," or ";")`;
    const v = placeValue(key, alias, part);
    if (typeof v === 'object') return v.error;
    if (!out.includes(v)) out.push(v);
  }
  (tags as Record<string, unknown>)[key] = out.length === 1 ? out[0] : Object.freeze(out);
  return undefined;
}

/** Validate one value; returns an error text or undefined after storing it. */
function setTag(tags: MutableTags, key: Exclude<TagKey, 'login'>, alias: string, value: string): string | undefined {
  const lower = value.toLowerCase();
  if (ALTERNATIVES_RE.test(value) && !PLACE_KEYS.has(key)) return `${alias}: "${value}": only country, state, city and asn take alternatives ("," or ";")`;
  switch (key) {
    case 'country':
    case 'city':
    case 'state':
    case 'asn':
      return setPlace(tags, key, alias, value);
    case 'exitNode':
      if (lower === 'random') tags.index = 0;
      else if (isIPv4(value)) tags.exitIp = value;
      else return `${alias}: "${value}" must be random or an exit's IPv4 egress address`;
      return undefined;
    case 'minQuality': {
      const n = intIn(value, 0, 100);
      if (n === undefined) return `${alias}: "${value}" is not a score from 0 to 100`;
      tags.minQuality = n;
      return undefined;
    }
    case 'exitHeader':
      if (value !== '0' && value !== '1') return `${alias}: "${value}" must be 1 (add X-Hopgate-Exit) or 0 (leave it out)`;
      tags.exitHeader = value === '1';
      return undefined;
    case 'session':
      if (!SESSION_RE.test(value)) return `${alias}: "${value}" must be 1-64 letters, digits or _`;
      tags.session = value;
      return undefined;
    case 'sessionMinutes': {
      const n = intIn(value, 1, MAX_SESSION_MINUTES);
      if (n === undefined) return `${alias}: "${value}" must be whole minutes from 1 to ${MAX_SESSION_MINUTES}`;
      tags.sessionMinutes = n;
      return undefined;
    }
    case 'sessionMode':
      if (lower !== 'soft' && lower !== 'strict') return `${alias}: "${value}" must be soft or strict`;
      tags.sessionMode = lower;
      return undefined;
    case 'exitIp':
      if (!isIPv4(value)) return `${alias}: "${value}" is not an IPv4 address`;
      tags.exitIp = value;
      return undefined;
    case 'port': {
      const n = intIn(value, 1, 65535);
      if (n === undefined) return `${alias}: "${value}" is not a port number`;
      tags.port = n;
      return undefined;
    }
    case 'index': {
      const n = intIn(value, 0, 65535);
      if (n === undefined) return `${alias}: "${value}" is not an index from 0 to 65535`;
      tags.index = n;
      return undefined;
    }
  }
}

export function parseUsername(raw: string): UsernameResult {
  if (raw.length === 0) return bad('empty username');
  if (raw.length > MAX_USERNAME_LENGTH) return bad(`username longer than ${MAX_USERNAME_LENGTH} characters`);
  // ':' would split differently in Basic auth and SOCKS4 userids; never valid in a username.
  // Only printable ASCII: toLowerCase() would otherwise fold e.g. the Kelvin sign U+212A into "k".
  if (/[^\x21-\x7e]|:/.test(raw)) return bad('username contains whitespace, ":", control or non-ASCII characters');
  const tokens = raw.split('-');
  if (tokens.some((t) => t.length === 0)) return bad('empty part in username (doubled or trailing "-")');

  let login: string | undefined;
  let i = 0;
  if (keyForAlias(tokens[0]!) !== 'login' || tokens.length === 1) {
    login = tokens[0]!;
    i = 1;
  }
  const tags: MutableTags = {};
  // Key -> alias as written, so later refusals can name what the customer typed.
  const seen = new Map<TagKey, string>();
  if (login !== undefined) seen.set('login', 'login');
  for (; i < tokens.length; i += 2) {
    const alias = tokens[i]!;
    const key = keyForAlias(alias);
    if (key === undefined) return bad(`unknown key "${alias}"`);
    const value = tokens[i + 1];
    if (value === undefined) return bad(`key "${alias}" has no value`);
    if (seen.has(key)) return bad(`key "${alias}" given twice`);
    seen.set(key, alias.toLowerCase());
    if (key === 'login') {
      login = value;
      continue;
    }
    const err = setTag(tags, key, alias.toLowerCase(), value);
    if (err) return bad(err);
  }
  if (login === undefined) return bad('no login in username');
  if (!LOGIN_RE.test(login)) return bad(`login "${login}" may only hold letters, digits and _ . @ +`);
  if (tags.session === undefined && (tags.sessionMinutes !== undefined || tags.sessionMode !== undefined)) {
    const used = [seen.get('sessionMinutes'), seen.get('sessionMode')].filter(Boolean);
    return bad(`${used.join(' and ')} given without a session (sesstime/sessmode need one)`);
  }
  const pins = (['exitIp', 'exitNode', 'port', 'index'] as const).map((k) => seen.get(k)).filter(Boolean);
  if (pins.length > 1) return bad(`conflicting exit pins: ${pins.join(' and ')}`);
  return { ok: true, value: { login, tags, raw } };
}

/** Canonical text for parsed tags (the inverse of parseUsername, modulo aliases). */
export function formatUsername(login: string, tags: UsernameTags = {}): string {
  // A login that is itself a login alias ("user") would be read as the `user-` prefix when tags follow.
  const parts = keyForAlias(login) === 'login' && Object.values(tags).some((v) => v !== undefined) ? ['user', login] : [login];
  const push = (k: string, v: OneOrMore<string | number> | undefined): void => {
    if (v !== undefined) parts.push(k, typeof v === 'object' ? v.join(',') : String(v));
  };
  push('country', tags.country);
  push('state', tags.state);
  push('city', tags.city);
  push('asn', tags.asn);
  push('exitip', tags.exitIp);
  push('port', tags.port);
  push('index', tags.index);
  push('session', tags.session);
  push('sesstime', tags.sessionMinutes);
  push('sessmode', tags.sessionMode);
  push('quality', tags.minQuality);
  push('hdr', tags.exitHeader === undefined ? undefined : tags.exitHeader ? 1 : 0);
  return parts.join('-');
}
