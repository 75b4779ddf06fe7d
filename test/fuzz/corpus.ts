/**
 * Regression cases: minimized inputs that once broke a property, stored as
 * test/fuzz/corpus/*.json and replayed by every test run.
 *   { "target": "socks5.userpass", "property": "lossless-text", "inputHex": "…",
 *     "note": "what it found", "todo"?: "why it still fails and who fixes it" }
 */
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import type { Finding } from './engine.js';

export interface CorpusCase {
  readonly target: string;
  readonly property: string;
  readonly inputHex: string;
  readonly note: string;
  readonly seed?: number;
  readonly todo?: string;
  readonly file: string;
}

/** The source directory (tests run from dist/test/fuzz, the cases stay in test/fuzz/corpus). */
export function corpusDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const fromDist = resolve(here, '../../../test/fuzz/corpus');
  return here.includes(`${join('dist', 'test')}`) ? fromDist : resolve(here, 'corpus');
}

export function loadCorpus(dir = corpusDir()): CorpusCase[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json')).sort();
  } catch {
    return [];
  }
  return names.map((file) => ({ ...(JSON.parse(readFileSync(join(dir, file), 'utf8')) as Omit<CorpusCase, 'file'>), file }));
}

/** Write a finding as a new case; returns its path. */
export function saveFinding(f: Finding, dir = corpusDir()): string {
  mkdirSync(dir, { recursive: true });
  const hex = f.input.toString('hex');
  const id = createHash('sha256').update(`${f.target}\0${hex}`).digest('hex').slice(0, 10);
  const path = join(dir, `${f.target}-${f.property}-${id}.json`);
  const body = { target: f.target, property: f.property, inputHex: hex, note: f.message, seed: f.seed };
  writeFileSync(path, `${JSON.stringify(body, null, 2)}\n`);
  return path;
}
