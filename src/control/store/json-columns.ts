/** Lists and objects are JSON text in the database (tables.ts): written and read here, for every table. */

export const json = (v: unknown): string => JSON.stringify(v);

/** A JSON column's value; `fallback` for NULL. */
export function parseJson<T>(text: string | null, fallback: T): T {
  return text === null ? fallback : (JSON.parse(text) as T);
}
