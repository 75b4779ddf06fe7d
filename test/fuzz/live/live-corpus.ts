/** Live regression cases: test/fuzz/corpus/live/*.json, { note, problem, script, todo? }. */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { corpusDir } from '../corpus.js';
import type { LiveScript } from './script.js';

export interface LiveCase {
  readonly file: string;
  readonly note: string;
  readonly problem: string;
  /** Run at once on one fresh host (usually one). */
  readonly scripts: readonly LiveScript[];
  readonly todo?: string;
}

export function liveCorpusDir(): string {
  return join(corpusDir(), 'live');
}

export function loadLiveCorpus(dir = liveCorpusDir()): LiveCase[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json')).sort();
  } catch {
    return [];
  }
  return names.map((file) => ({ ...(JSON.parse(readFileSync(join(dir, file), 'utf8')) as Omit<LiveCase, 'file'>), file }));
}

export function saveLiveCase(c: Omit<LiveCase, 'file'>, dir = liveCorpusDir()): string {
  mkdirSync(dir, { recursive: true });
  const id = createHash('sha256').update(JSON.stringify(c.scripts)).digest('hex').slice(0, 10);
  const path = join(dir, `${c.scripts[0]?.kind ?? 'empty'}-${c.problem}-${id}.json`);
  writeFileSync(path, `${JSON.stringify(c, null, 2)}\n`);
  return path;
}
