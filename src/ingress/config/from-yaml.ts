/**
 * Load and validate the standalone ingress YAML. A validation error names the
 * field path and the line it is on.
 */
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument, isNode } from 'yaml';
import type { z } from 'zod';
import { IngressConfigSchema, type IngressConfig } from '../../shared/schema/ingress-config.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function parseIngressYaml(text: string, fileName = 'config'): IngressConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw new ConfigError(`${fileName}:${e.linePos?.[0]?.line ?? '?'}: ${e.message.split('\n')[0]}`);
  }
  const raw: unknown = doc.toJS();
  const result = IngressConfigSchema.safeParse(raw ?? {});
  if (result.success) return result.data;
  throw new ConfigError(result.error.issues.map((i) => describeIssue(i, doc, lines, fileName)).join('\n'));
}

function describeIssue(issue: z.core.$ZodIssue, doc: ReturnType<typeof parseDocument>, lines: LineCounter, fileName: string): string {
  const path = issue.path.map(String);
  // Point at the deepest node that exists on the path.
  let line: number | undefined;
  for (let n = path.length; n >= 0 && line === undefined; n--) {
    const node: unknown = n === 0 ? doc.contents : doc.getIn(issue.path.slice(0, n) as (string | number)[], true);
    if (isNode(node) && node.range) line = lines.linePos(node.range[0]).line;
  }
  const field = path.length > 0 ? path.join('.') : '(root)';
  return `${fileName}:${line ?? '?'}: ${field}: ${issue.message}`;
}

export function loadIngressYaml(path: string): IngressConfig {
  return parseIngressYaml(readFileSync(path, 'utf8'), path);
}
