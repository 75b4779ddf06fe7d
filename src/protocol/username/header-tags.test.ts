import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseUsername, type ParsedUsername } from './grammar.js';
import { tagsFromHeaders } from './header-tags.js';

const user = (raw: string): ParsedUsername => {
  const r = parseUsername(raw);
  assert.ok(r.ok);
  return r.value;
};
const h = (name: string, value: string) => ({ name, value });

test('no route headers: the username alone decides', () => {
  assert.deepEqual(tagsFromHeaders(user('bob-country-us'), [h('Accept', '*/*')]), { ok: true, tags: undefined, text: '' });
});

test('headers add tags through any alias, merged with the username', () => {
  const r = tagsFromHeaders(user('user-bob-country-us'), [h('X-Hopgate-Sessid', 'a1B2'), h('x-hopgate-sesstime', '30'), h('X-Hopgate-City', 'new_york')]);
  assert.ok(r.ok);
  assert.deepEqual(r.tags, { country: 'us', session: 'a1B2', sessionMinutes: 30, city: 'new_york' });
  const cc = tagsFromHeaders(user('bob'), [h('X-Hopgate-CC', 'UK')]);
  assert.ok(cc.ok);
  assert.deepEqual(cc.tags, { country: 'gb' });
});

test('conflicts, unknown headers and bad values are refused with the header named', () => {
  assert.deepEqual(tagsFromHeaders(user('bob-country-us'), [h('X-Hopgate-Country', 'de')]), { ok: false, reason: 'username with X-Hopgate headers: key "country" given twice' });
  assert.deepEqual(tagsFromHeaders(user('bob'), [h('X-Hopgate-Colour', 'red')]), { ok: false, reason: 'unknown header X-Hopgate-Colour' });
  assert.deepEqual(tagsFromHeaders(user('bob'), [h('X-Hopgate-User', 'eve')]), { ok: false, reason: 'X-Hopgate-User: the login comes from the credentials only' });
  assert.equal(tagsFromHeaders(user('bob'), [h('X-Hopgate-Session', 'a-b')]).ok, false);
  const r = tagsFromHeaders(user('bob'), [h('X-Hopgate-Exitip', '10.0.0.1'), h('X-Hopgate-Port', '8001')]);
  assert.deepEqual(r, { ok: false, reason: 'username with X-Hopgate headers: conflicting exit pins: exitip and port' });
  assert.equal(tagsFromHeaders(user('bob'), [h('X-Hopgate-Error', 'x')]).ok, true, 'the error header is not a route choice');
});
