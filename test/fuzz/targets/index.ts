import type { FuzzTarget } from '../target.js';
import { SOCKS_TARGETS } from './socks.js';
import { HTTP_TARGETS } from './http.js';
import { MISC_TARGETS } from './misc.js';
import { linkFrames } from './link.js';

/** Every codec in src/protocol/ under fuzz. */
export const ALL_TARGETS: readonly FuzzTarget[] = [...SOCKS_TARGETS, ...HTTP_TARGETS, ...MISC_TARGETS, linkFrames];

export function targetByName(name: string): FuzzTarget {
  const t = ALL_TARGETS.find((x) => x.name === name);
  if (!t) throw new Error(`no fuzz target '${name}' (have: ${ALL_TARGETS.map((x) => x.name).join(', ')})`);
  return t;
}
