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
  assert.throws(() => parseIngressYaml('listen: { host: 127.0.0.1, ports: [8000, 8001] }\nlimits: { maxConections: 5 }\n', 'typo.yaml'), /typo\.yaml:2: limits\.maxConections: unknown key \(did you mean maxConnections\?\)$/m);
});

function configError(text: string, fileName: string): string {
  try {
    parseIngressYaml(text, fileName);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  throw new Error('no error');
}

test('a syntax error: FILE:LINE:COL, the line, a caret under the place, nothing dangling', () => {
  const mid = configError(['listen:', '  host: 127.0.0.1', 'limits: { a: 1: 2 }', 'log: {}', ''].join('\n'), 'mid.yaml');
  const [head, shown, caret, ...rest] = mid.split('\n');
  assert.deepEqual(rest, [], mid);
  assert.match(head!, /^mid\.yaml:3:(\d+): \S.*[^:]$/, 'a message that does not end in a colon');
  const col = Number(/^mid\.yaml:3:(\d+):/.exec(head!)![1]);
  assert.equal(shown, '3 | limits: { a: 1: 2 }');
  assert.equal(caret!.indexOf('^') - '3 | '.length, col - 1, `the caret under column ${col}: ${mid}`);
  assert.doesNotMatch(mid, /column \d+:?\s*$|line \d+, column/m);

  // Found at the end of the file: the last line that has something, and the file's end named.
  const end = configError('listen:\n  host: [unclosed\n\n', 'syntax.yaml');
  assert.equal(end, ['syntax.yaml:2:18: Flow sequence in block collection must be sufficiently indented and end with a ] (the file ends here)', '2 |   host: [unclosed', '  |                  ^'].join('\n'));

  // A tab before the place keeps the caret aligned in a terminal.
  const tab = configError('a: "x\t\t"y"\n', 'tab.yaml');
  const lines = tab.split('\n');
  assert.equal(lines.length, 3, tab);
  assert.match(lines[2]!, /^ {2}\| [\t ]*\^$/);
});

test('each unknown key on its own line, with the nearest valid key at that place', () => {
  const text = [
    'listen:',
    '  host: 127.0.0.1',
    '  ports: [8000, 8001]',
    'limts:', // top level: limits
    '  maxConnections: 5',
    'users:',
    '  - login: alice',
    '    sources: [10.0.0.0/24]',
    '    sourceAuth: true',
    '    maxConections: 3', // users[0]: maxConnections
    'exits:',
    '  - id: r1',
    '    kind: reverse',
    '    tokenHash: $scrypt$x',
    '    maxConection: 5', // the reverse branch: maxConnections
    '  - id: f1',
    '    host: 127.0.0.1',
    '    port: 1080',
    '    egresIp: 192.0.2.1', // the forward branch (no kind): egressIp
    '    frobnicate: 1', // nothing near
    '',
  ].join('\n');
  const lines = configError(text, 'keys.yaml').split('\n');
  assert.ok(lines.includes('keys.yaml:4: limts: unknown key (did you mean limits?)'), lines.join('\n'));
  assert.ok(lines.includes('keys.yaml:10: users.0.maxConections: unknown key (did you mean maxConnections?)'), lines.join('\n'));
  assert.ok(lines.includes('keys.yaml:15: exits.0.maxConection: unknown key (did you mean maxConnections?)'), lines.join('\n'));
  assert.ok(lines.includes('keys.yaml:19: exits.1.egresIp: unknown key (did you mean egressIp?)'), lines.join('\n'));
  const far = lines.find((l) => l.startsWith('keys.yaml:20: exits.1.frobnicate: unknown key (valid here: '));
  assert.ok(far, lines.join('\n'));
  assert.match(far, /\bhost\b.*\bvia\b/);
  assert.doesNotMatch(far, /tokenHash/, 'keys of the forward branch only');
  assert.equal(lines.filter((l) => l.startsWith('keys.yaml:1:')).length, 0, 'nothing pinned on line 1');
});
