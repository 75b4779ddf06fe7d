/**
 * Configuration errors as an operator reads them: `FILE:LINE:COL: message` and the
 * offending line with a caret for YAML syntax, `FILE:LINE: path: message` for a value the
 * schema refuses, each unknown key on its own line with the nearest valid key.
 */
import { isMap, isNode, isScalar, type Document, type LineCounter, type YAMLError } from 'yaml';
import type { z } from 'zod';
import { keysAt, nearestKey } from './schema-keys.js';

/** Widest part of a line shown under a syntax error (a minified or binary file has very long lines). */
const SHOWN_LINE_CHARS = 120;

/** A YAML syntax error: where, what, and the line with a caret under the place. */
export function syntaxErrorText(text: string, err: YAMLError, lines: LineCounter, fileName: string): string {
  let { line, col } = lines.linePos(err.pos[0]);
  const all = text.split(/\r?\n/);
  let atEnd = '';
  // An error found only at the end of the file (an unclosed bracket or quote) points past the
  // last line: show the last line that has something on it, and say the file ended there.
  if (line > 0 && (all[line - 1] ?? '').trim() === '' && text.slice(err.pos[0]).trim() === '') {
    let last = line - 1;
    while (last > 0 && (all[last - 1] ?? '').trim() === '') last--;
    if (last > 0) {
      line = last;
      col = all[last - 1]!.trimEnd().length + 1;
      atEnd = ' (the file ends here)';
    }
  }
  const message = err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  const source = all[line - 1] ?? '';
  // Keep the caret's line in view on a long line, and tabs as tabs so the caret stays aligned.
  const from = Math.max(0, Math.min(col - 1 - SHOWN_LINE_CHARS / 2, source.length - SHOWN_LINE_CHARS));
  const shown = source.slice(from, from + SHOWN_LINE_CHARS).replace(/[\x00-\x08\x0a-\x1f\x7f]/g, '?');
  const gutter = `${line} | `;
  const caret = ' '.repeat(gutter.length - 2) + '| ' + shown.slice(0, col - 1 - from).replace(/[^\t]/g, ' ') + '^';
  return `${fileName}:${line}:${col}: ${message}${atEnd}\n${gutter}${shown}\n${caret}`;
}

/** One schema issue as lines (an unrecognized-keys issue: one line per key, on the key's own line). */
export function issueLines(issue: z.core.$ZodIssue, doc: Document, lines: LineCounter, fileName: string, schema: z.ZodType, input: unknown): string[] {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const valid = keysAt(schema, issue.path, input);
    const map = nodeAt(doc, issue.path);
    return issue.keys.map((key) => {
      const pair = isMap(map) ? map.items.find((p) => isScalar(p.key) && String(p.key.value) === key) : undefined;
      const keyNode = pair && isNode(pair.key) ? pair.key : undefined;
      const line = keyNode?.range ? lines.linePos(keyNode.range[0]).line : lineOf(doc, issue.path, lines);
      const near = nearestKey(key, valid);
      const hint = near !== undefined ? `did you mean ${near}?` : valid.length > 0 ? `valid here: ${valid.join(', ')}` : 'no keys are valid here';
      return `${fileName}:${line ?? '?'}: ${[...path, key].join('.')}: unknown key (${hint})`;
    });
  }
  const field = path.length > 0 ? path.join('.') : '(root)';
  return [`${fileName}:${lineOf(doc, issue.path, lines) ?? '?'}: ${field}: ${issue.message}`];
}

function nodeAt(doc: Document, path: readonly PropertyKey[]): unknown {
  return path.length === 0 ? doc.contents : doc.getIn(path as (string | number)[], true);
}

/** The line of the deepest node that exists on the path. */
function lineOf(doc: Document, path: readonly PropertyKey[], lines: LineCounter): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = nodeAt(doc, path.slice(0, n));
    if (isNode(node) && node.range) return lines.linePos(node.range[0]).line;
  }
  return undefined;
}
