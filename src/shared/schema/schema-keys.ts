/**
 * Which keys a zod schema accepts at a place in a document, and the nearest of
 * them to a mistyped one: the "did you mean" of configuration errors. Walks
 * zod 4's schema definitions (wrappers, arrays, tuples, unions) along a path.
 */
import type { z } from 'zod';

type Path = ReadonlyArray<PropertyKey>;

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  in?: z.ZodType;
  element?: z.ZodType;
  items?: z.ZodType[];
  rest?: z.ZodType | null;
  options?: z.ZodType[];
  discriminator?: string;
  left?: z.ZodType;
  right?: z.ZodType;
  getter?: () => z.ZodType;
}

const def = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;
const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional', 'success']);

/** The object schemas that may describe `value` (several for a union without a discriminator). */
function objectsOf(schema: z.ZodType, value: unknown, depth = 0): z.ZodType[] {
  if (depth > 32) return [];
  const d = def(schema);
  if (d.type === 'object') return [schema];
  if (WRAPPERS.has(d.type) && d.innerType) return objectsOf(d.innerType, value, depth + 1);
  if (d.type === 'pipe' && d.in) return objectsOf(d.in, value, depth + 1);
  if (d.type === 'lazy' && d.getter) return objectsOf(d.getter(), value, depth + 1);
  if (d.type === 'intersection' && d.left && d.right) return [...objectsOf(d.left, value, depth + 1), ...objectsOf(d.right, value, depth + 1)];
  if (d.type === 'union' && d.options) {
    let options = d.options;
    const disc = d.discriminator;
    if (disc !== undefined && typeof value === 'object' && value !== null) {
      // The branch this entry is (e.g. an exit's `kind`; a missing kind picks the branch whose default it is).
      const given = (value as Record<string, unknown>)[disc];
      const matching = options.filter((o) => objectsOf(o, value, depth + 1).some((ob) => def(ob).shape?.[disc]?.safeParse(given).success === true));
      if (matching.length > 0) options = matching;
    }
    return options.flatMap((o) => objectsOf(o, value, depth + 1));
  }
  return [];
}

/** The schema of the value one step down `key` from a value of `schema`. */
function childOf(schema: z.ZodType, key: PropertyKey, value: unknown, depth = 0): z.ZodType[] {
  if (depth > 32) return [];
  const d = def(schema);
  if (WRAPPERS.has(d.type) && d.innerType) return childOf(d.innerType, key, value, depth + 1);
  if (d.type === 'pipe' && d.in) return childOf(d.in, key, value, depth + 1);
  if (d.type === 'lazy' && d.getter) return childOf(d.getter(), key, value, depth + 1);
  if (typeof key === 'number') {
    if (d.type === 'array' && d.element) return [d.element];
    if (d.type === 'tuple' && d.items) return [d.items[key] ?? d.rest ?? undefined].filter((x): x is z.ZodType => x !== undefined);
    return [];
  }
  return objectsOf(schema, value).flatMap((o) => {
    const child = def(o).shape?.[String(key)];
    return child ? [child] : [];
  });
}

/**
 * The keys `schema` accepts for the object at `path` of `document` (the parsed input, used to
 * pick a union's branch). Keys that exist only to be refused (`z.undefined()`) are left out.
 */
export function keysAt(schema: z.ZodType, path: Path, document: unknown): string[] {
  let schemas: z.ZodType[] = [schema];
  let value: unknown = document;
  for (const key of path) {
    schemas = schemas.flatMap((s) => childOf(s, key, value));
    value = typeof value === 'object' && value !== null ? (value as Record<PropertyKey, unknown>)[key] : undefined;
  }
  const keys = new Set<string>();
  for (const o of schemas.flatMap((s) => objectsOf(s, value))) {
    for (const [k, v] of Object.entries(def(o).shape ?? {})) if (!refusedOnly(v)) keys.add(k);
  }
  return [...keys];
}

function refusedOnly(s: z.ZodType): boolean {
  const d = def(s);
  if (d.type === 'undefined') return true;
  return WRAPPERS.has(d.type) && d.innerType !== undefined && refusedOnly(d.innerType);
}

/** Edit distance (insert, delete, substitute), giving up past `max`: a name is short, the bound keeps it cheap. */
export function editDistance(a: string, b: string, max = 2): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  if (a.length > 256 || b.length > 256) return a === b ? 0 : max + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      cur.push(v);
      rowMin = Math.min(rowMin, v);
    }
    if (rowMin > max) return max + 1;
    prev = cur;
  }
  return prev[b.length]!;
}

/** The valid key nearest to `typed` within 2 edits (a case-only difference counts as nearest), if any. */
export function nearestKey(typed: string, valid: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of valid) {
    const d = k.toLowerCase() === typed.toLowerCase() ? 0 : editDistance(typed, k, 2);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}
