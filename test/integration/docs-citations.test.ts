/**
 * The documents cite only documents the repository has: every `NAME.md` a doc or the
 * README names exists (at the root or in docs/), and LEGITIMACY.md points at no issue
 * tracker a reader of the repository cannot open.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const docs = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

test('every NAME.md the docs cite is in the repository', () => {
  assert.ok(docs.length >= 10, docs.join(' '));
  const missing: string[] = [];
  for (const doc of docs) {
    const text = readFileSync(join(ROOT, doc), 'utf8');
    for (const m of text.matchAll(/(?:^|[^\w/.-])((?:docs\/)?[A-Z][A-Z0-9_-]*\.md)\b/g)) {
      const name = m[1]!;
      const found = name.startsWith('docs/') ? existsSync(join(ROOT, name)) : existsSync(join(ROOT, name)) || existsSync(join(ROOT, 'docs', name));
      if (!found) missing.push(`${doc}: ${name}`);
    }
  }
  assert.deepEqual(missing, []);
});

test('LEGITIMACY.md cites no issue numbers', () => {
  const text = readFileSync(join(ROOT, 'docs/LEGITIMACY.md'), 'utf8');
  assert.doesNotMatch(text, /\bissue (?:#|item )\d+|\bthe issue's\b/i);
});
