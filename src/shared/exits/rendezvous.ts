/**
 * Deterministic hashing for choices that every ingress must make alike
 * without talking to each other: sticky sessions and port replacements.
 * Highest-random-weight (rendezvous) hashing: removing one exit moves only
 * the keys that were on it.
 */

/** FNV-1a over UTF-16 code units, 32 bits. Stable across processes and versions. */
export function hashString(text: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** murmur3's finaliser: spreads every input bit over the output. */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Score of one candidate for one key; the highest score wins. */
export function rendezvousScore(keyHash: number, candidateSeed: number): number {
  return mix32(keyHash ^ candidateSeed);
}

/**
 * The window a sticky session is in. Windows last `minutes`; each session's
 * boundaries are offset by its own hash so sessions do not all move at once.
 */
export function sessionWindow(sessionHash: number, minutes: number, nowMs: number): number {
  const len = minutes * 60_000;
  return Math.floor((nowMs + (sessionHash % len)) / len);
}

/** When the window containing `nowMs` ends (for docs, logs and tests). */
export function sessionWindowEnd(sessionHash: number, minutes: number, nowMs: number): number {
  const len = minutes * 60_000;
  return (sessionWindow(sessionHash, minutes, nowMs) + 1) * len - (sessionHash % len);
}
