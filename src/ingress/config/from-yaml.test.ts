import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError, parseIngressYaml } from './from-yaml.js';

const DOC = fileURLToPath(new URL('../../../../docs/CONFIGURATION.md', import.meta.url));

test('the commented example in docs/CONFIGURATION.md validates as written', () => {
  const md = readFileSync(DOC, 'utf8');
  const example = /## A commented example\s+```yaml\n([\s\S]*?)```/.exec(md)?.[1];
  assert.ok(example, 'the example block is there');
  const cfg = parseIngressYaml(example, 'CONFIGURATION.md');
  assert.deepEqual(cfg.listen.ports, [8000, 8099]);
  assert.deepEqual(cfg.egress, { localAddress: '192.0.2.10', localAddress6: '2001:db8::10', ports: [40000, 60999] });
  assert.equal(cfg.users.length, 4);
  assert.equal(cfg.exits[0]!.id, 'us-1');
});

test('a bad field is named with its path and line; a syntax error with its line', () => {
  const text = ['listen:', '  host: 127.0.0.1', '  ports: [8000, 8001]', 'egress:', '  localAddress: 127.0.0.2', '  ports: [5000, 4000]', ''].join('\n');
  assert.throws(() => parseIngressYaml(text, 'bad.yaml'), (err: Error) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /^bad\.yaml:6: egress\.ports: ports must be \[first, last\] with 1024 ≤ first < last$/m);
    return true;
  });
  assert.throws(() => parseIngressYaml('listen:\n  host: [unclosed\n', 'syntax.yaml'), /ConfigError: syntax\.yaml:3: Flow sequence/);
  assert.throws(() => parseIngressYaml('listen: { host: 127.0.0.1, ports: [8000, 8001] }\nlimits: { maxConections: 5 }\n', 'typo.yaml'), /typo\.yaml:2: limits: Unrecognized key: "maxConections"/);
});
