/**
 * Generated documents kept in docs/ (event and request JSON Schemas) are checked against the code by
 * tests. On a difference, name the first differing line: node:assert's full diff of two documents
 * of ~100 KB runs for minutes, which hung `npm test` when a route was added without regenerating.
 */
export function docDrift(have: string, want: string): string | undefined {
  if (have === want) return undefined;
  const a = have.split('\n');
  const b = want.split('\n');
  const i = a.findIndex((line, k) => line !== b[k]);
  const at = i === -1 ? a.length : i;
  return `differs from the code at line ${at + 1}: file has ${JSON.stringify(a[at] ?? '(end)')}, code generates ${JSON.stringify(b[at] ?? '(end)')}`;
}
