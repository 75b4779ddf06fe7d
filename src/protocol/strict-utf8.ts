const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Credentials decode strictly: a lenient decoder turns every invalid byte into
 * U+FFFD, so different secrets would compare equal (Proxy-Authorization does the same).
 */
export function strictUtf8(bytes: Uint8Array): string | undefined {
  try {
    return UTF8.decode(bytes);
  } catch {
    return undefined;
  }
}
