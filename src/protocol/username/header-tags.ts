/**
 * Route choices from HTTP request headers (`X-Hopgate-Country: de`,
 * `X-Hopgate-Session: a1b2`…), for HTTP clients that cannot vary the
 * username. Each header is a username key (any alias) after the prefix; the
 * result is validated exactly like a username, so a key given both ways is
 * refused as given twice. Pure.
 */
import { keyForAlias } from './aliases.js';
import { parseUsername, type ParsedUsername, type UsernameTags } from './grammar.js';

export const ROUTE_HEADER_PREFIX = 'x-hopgate-';
/** Response header carrying the error code; never a route choice. */
const RESERVED = new Set(['x-hopgate-error']);

export type HeaderTagsResult =
  | { readonly ok: true; readonly tags: UsernameTags | undefined; readonly text: string }
  | { readonly ok: false; readonly reason: string };

export function isRouteHeader(lowerName: string): boolean {
  return lowerName.startsWith(ROUTE_HEADER_PREFIX);
}

/** `tags` undefined: no route headers, the username alone decides. `text` identifies the choice (for connection reuse). */
export function tagsFromHeaders(username: ParsedUsername, headers: ReadonlyArray<{ readonly name: string; readonly value: string }>): HeaderTagsResult {
  let extra = '';
  for (const h of headers) {
    const lower = h.name.toLowerCase();
    if (!isRouteHeader(lower) || RESERVED.has(lower)) continue;
    const alias = lower.slice(ROUTE_HEADER_PREFIX.length);
    const key = keyForAlias(alias);
    if (key === undefined) return { ok: false, reason: `unknown header ${h.name}` };
    if (key === 'login') return { ok: false, reason: `${h.name}: the login comes from the credentials only` };
    const value = h.value.trim();
    if (value === '' || /[-:\s]/.test(value)) return { ok: false, reason: `${h.name}: "${value}" must be one word without "-" or ":"` };
    extra += `-${alias}-${value}`;
  }
  if (extra === '') return { ok: true, tags: undefined, text: '' };
  const parsed = parseUsername(`user-${username.login}${tagsText(username.raw, username.login)}${extra}`);
  if (!parsed.ok) return { ok: false, reason: `username with X-Hopgate headers: ${parsed.reason}` };
  return { ok: true, tags: parsed.value.tags, text: extra };
}

/** The tag part of a raw username (`bob-country-us` → `-country-us`). */
function tagsText(raw: string, login: string): string {
  const i = raw.indexOf(login);
  return i < 0 ? '' : raw.slice(i + login.length);
}
