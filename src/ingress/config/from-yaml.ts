/**
 * Load and validate the standalone ingress YAML. A validation error names the
 * field path and the line it is on (src/shared/schema/yaml-errors.ts).
 */
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { IngressConfigSchema, type IngressConfig } from '../../shared/schema/ingress-config.js';
import { issueLines, syntaxErrorText } from '../../shared/schema/yaml-errors.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function parseIngressYaml(text: string, fileName = 'config'): IngressConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  // The first syntax error only: later ones are mostly its echoes.
  if (doc.errors.length > 0) throw new ConfigError(syntaxErrorText(text, doc.errors[0]!, lines, fileName));
  let raw: unknown;
  try {
    raw = doc.toJS() ?? {};
  } catch (err) {
    // An alias bomb (more alias expansions than the yaml package allows) and the like.
    throw new ConfigError(`${fileName}: ${(err as Error).message}`);
  }
  const result = IngressConfigSchema.safeParse(raw);
  if (result.success) {
    // Here, not in the schema: an ingress fed by the control plane keeps its identity in its state dir.
    const i = result.data.links ? -1 : result.data.exits.findIndex((e) => e.kind !== 'reverse' && e.link);
    if (i >= 0) throw new ConfigError(`${fileName}: exits.${i}.link: an exit with a link needs links.identityDir (this ingress's link identity)`);
    return result.data;
  }
  throw new ConfigError(result.error.issues.flatMap((i) => issueLines(i, doc, lines, fileName, IngressConfigSchema, raw)).join('\n'));
}

export function loadIngressYaml(path: string): IngressConfig {
  return parseIngressYaml(readFileSync(path, 'utf8'), path);
}
