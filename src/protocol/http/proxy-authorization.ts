/** `Proxy-Authorization: Basic …` (RFC 7617) and the matching challenge. */

export interface BasicCredentials {
  readonly username: string;
  readonly password: string | undefined;
}

const B64_RE = /^[A-Za-z0-9+/]+={0,2}$/;
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Undefined when the header is not well-formed Basic credentials. */
export function parseBasicCredentials(header: string): BasicCredentials | undefined {
  const m = /^basic[ ]+([^ ]+)[ ]*$/i.exec(header);
  if (!m || !B64_RE.test(m[1]!) || m[1]!.length > 2048) return undefined;
  const bytes = Buffer.from(m[1]!, 'base64');
  // Node decodes base64 leniently (stray trailing characters are dropped): accept only input that
  // re-encodes to itself, padding optional.
  if (bytes.toString('base64').replace(/=+$/, '') !== m[1]!.replace(/=+$/, '')) return undefined;
  let text: string;
  try {
    text = UTF8.decode(bytes); // fatal: invalid UTF-8 must not collapse to U+FFFD and match another password
  } catch {
    return undefined;
  }
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

export function encodeBasicChallenge(realm: string): string {
  return `Basic realm="${realm.replace(/["\\]/g, '')}", charset="UTF-8"`;
}
