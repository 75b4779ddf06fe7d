import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COUNTRY_ALIASES, KEY_ALIASES, keyForAlias, type TagKey } from './aliases.js';
import { formatUsername, MAX_SESSION_MINUTES, MAX_USERNAME_LENGTH, parseUsername, type ParsedUsername, type UsernameTags } from './grammar.js';

function parsed(raw: string): ParsedUsername {
  const r = parseUsername(raw);
  assert.ok(r.ok, `${JSON.stringify(raw)} refused: ${r.ok ? '' : r.reason}`);
  return r.value;
}

/** Refused with USERNAME_INVALID, and the reason names every given fragment (the key or value at fault). */
function refused(raw: string, ...mentions: string[]): string {
  const r = parseUsername(raw);
  assert.equal(r.ok, false, `${JSON.stringify(raw)} accepted`);
  assert.ok(!r.ok);
  assert.equal(r.code, 'USERNAME_INVALID');
  for (const m of mentions) assert.ok(r.reason.includes(m), `${JSON.stringify(raw)}: reason ${JSON.stringify(r.reason)} lacks ${JSON.stringify(m)}`);
  return r.reason;
}

// A valid sample value per key and what it parses to; sesstime/sessmode also need a session.
const SAMPLES: Record<Exclude<TagKey, 'login'>, [string, UsernameTags]> = {
  country: ['US', { country: 'us' }],
  city: ['New_York', { city: 'new_york' }],
  state: ['ca', { state: 'ca' }],
  asn: ['AS13335', { asn: 13335 }],
  session: ['AbC_9', { session: 'AbC_9' }],
  sessionMinutes: ['30', { session: 's', sessionMinutes: 30 }],
  sessionMode: ['Strict', { session: 's', sessionMode: 'strict' }],
  exitIp: ['203.0.113.7', { exitIp: '203.0.113.7' }],
  port: ['10001', { port: 10001 }],
  index: ['0', { index: 0 }],
  exitNode: ['Random', { index: 0 }],
  minQuality: ['90', { minQuality: 90 }],
  exitHeader: ['1', { exitHeader: true }],
};

test('every alias in KEY_ALIASES maps to its key, case-insensitively, and parses as that key', () => {
  let count = 0;
  for (const [key, aliases] of Object.entries(KEY_ALIASES) as Array<[TagKey, readonly string[]]>) {
    assert.ok(aliases.length > 0, key);
    for (const alias of aliases) {
      count++;
      assert.equal(keyForAlias(alias), key, alias);
      assert.equal(keyForAlias(alias.toUpperCase()), key, alias.toUpperCase());
      if (key === 'login') {
        const p = parsed(`${alias}-bob-cc-us`);
        assert.deepEqual([p.login, p.tags], ['bob', { country: 'us' }], alias);
        continue;
      }
      const [value, tags] = SAMPLES[key];
      const needsSession = key === 'sessionMinutes' || key === 'sessionMode';
      const p = parsed(`bob-${needsSession ? 'session-s-' : ''}${alias.toUpperCase()}-${value}`);
      assert.deepEqual([p.login, p.tags], ['bob', tags], alias);
    }
  }
  // No alias is claimed by two keys (a Map would silently keep the last one).
  const all = Object.values(KEY_ALIASES).flat();
  assert.equal(new Set(all).size, all.length);
  assert.equal(count, all.length);
  for (const s of ['nope', 'constructor', '__proto__', 'toString', '']) assert.equal(keyForAlias(s), undefined, s);
});

test('country, city, state and asn values are normalised', () => {
  for (const [alias, code] of Object.entries(COUNTRY_ALIASES)) {
    assert.equal(parsed(`bob-country-${alias}`).tags.country, code, alias);
    assert.equal(parsed(`bob-cc-${alias.toUpperCase()}`).tags.country, code, alias.toUpperCase());
  }
  assert.equal(parsed('bob-country-uk').tags.country, 'gb');
  assert.equal(parsed('bob-region-DE').tags.country, 'de');
  refused('bob-country-usa', 'country', 'usa');
  refused('bob-cc-u1', 'cc', 'u1');
  assert.deepEqual(parsed('bob-st-NY-city-New_York').tags, { state: 'ny', city: 'new_york' });
  refused('bob-city-new.york', 'city', 'new.york');
  refused(`bob-state-${'a'.repeat(65)}`, 'state');
  assert.equal(parsed('bob-asn-as7922').tags.asn, 7922);
  assert.equal(parsed('bob-asn-4294967295').tags.asn, 4294967295);
  refused('bob-asn-4294967296', 'asn', '4294967296');
  refused('bob-asn-AS0', 'asn', 'AS0');
  refused('bob-asn-as', 'asn');
});

test('session, sesstime and sessmode', () => {
  const p = parsed('bob-session-AbC_1-sesstime-30-sessmode-STRICT');
  assert.deepEqual(p.tags, { session: 'AbC_1', sessionMinutes: 30, sessionMode: 'strict' }, 'session id keeps its case');
  assert.deepEqual(parsed('bob-sid-x-lifetime-1-sessionmode-soft').tags, { session: 'x', sessionMinutes: 1, sessionMode: 'soft' });
  assert.equal(parsed(`bob-session-x-sesstime-${MAX_SESSION_MINUTES}`).tags.sessionMinutes, 1440);
  // Order does not matter: sesstime before session is fine.
  assert.deepEqual(parsed('bob-sesstime-5-sessid-q').tags, { session: 'q', sessionMinutes: 5 });
  refused('bob-session-x-sesstime-1441', 'sesstime', '1441');
  refused('bob-session-x-sesstime-0', 'sesstime', '"0"');
  refused('bob-session-x-sessttl-1.5', 'sessttl', '1.5');
  refused('bob-session-x-sessmode-loose', 'sessmode', 'loose');
  refused(`bob-session-${'s'.repeat(65)}`, 'session');
  refused('bob-session-a.b', 'session', 'a.b');
  refused('bob-session-a@b', 'session', 'a@b');
});

test('user-/customer- prefixed forms, as implemented', () => {
  assert.deepEqual(parsed('user-bob'), { login: 'bob', tags: {}, raw: 'user-bob' });
  assert.equal(parsed('customer-acme.co-cc-fr').login, 'acme.co');
  assert.equal(parsed('USER-bob').login, 'bob');
  assert.equal(parsed('login-b_o.b@x+y').login, 'b_o.b@x+y');
  // A lone alias is a plain login, and an ordinary login needs no prefix.
  assert.equal(parsed('user').login, 'user');
  assert.equal(parsed('customer').login, 'customer');
  assert.deepEqual(parsed('bob'), { login: 'bob', tags: {}, raw: 'bob' });
  // The login is not special as a first token unless it is a login alias: "cc" is a login here.
  assert.deepEqual([parsed('cc-cc-us').login, parsed('cc-cc-us').tags], ['cc', { country: 'us' }]);
  // "user-cc-us": "user" is read as the prefix, so "cc" becomes the login and "us" an unknown key.
  refused('user-cc-us', 'unknown key "us"');
  refused('bob-user-alice', '"user"', 'twice');
  refused('user-bob-login-alice', '"login"', 'twice');
  refused('user-bob-customer-alice', '"customer"', 'twice');
  assert.equal(parsed('user-cc').login, 'cc', 'the prefix always takes the next token as the login');
  refused('user-bob-cc', '"cc"', 'no value');
});

test('formatUsername(parseUsername(x)) round trips to the same tags, in canonical form', () => {
  const names: Array<[string, string]> = [
    ['bob', 'bob'],
    ['user-bob', 'bob'],
    ['bob-cc-uk', 'bob-country-gb'],
    ['customer-acme-region-US-st-CA-city-Los_Angeles-asn-AS7018', 'acme-country-us-state-ca-city-los_angeles-asn-7018'],
    ['bob-sessmode-soft-sid-Xy_1-lifetime-60', 'bob-session-Xy_1-sesstime-60-sessmode-soft'],
    ['bob-ip-198.51.100.2', 'bob-exitip-198.51.100.2'],
    ['bob-proxyindex-0', 'bob-index-0'],
    ['bob-port-10001-cc-de', 'bob-country-de-port-10001'],
    // A login equal to a login alias needs the prefix once tags follow.
    ['user-user-cc-us', 'user-user-country-us'],
    ['login-customer-sid-a', 'user-customer-session-a'],
    ['user', 'user'],
    ['bob-cc-UK-exitnode-random', 'bob-country-gb-index-0'],
    ['bob-exitnode-198.51.100.2', 'bob-exitip-198.51.100.2'],
    ['bob-country-us;DE,fr-asn-as1;2-quality-90', 'bob-country-us,de,fr-asn-1,2-quality-90'],
  ];
  for (const [raw, canonical] of names) {
    const p = parsed(raw);
    const text = formatUsername(p.login, p.tags);
    assert.equal(text, canonical, raw);
    const again = parsed(text);
    assert.deepEqual([again.login, again.tags], [p.login, p.tags], raw);
    assert.equal(formatUsername(again.login, again.tags), text, 'idempotent');
  }
  assert.equal(formatUsername('bob'), 'bob');
  assert.equal(formatUsername('user', {}), 'user');
});

test('unknown, duplicate and valueless keys; empty tokens', () => {
  refused('bob-color-red', 'unknown key "color"');
  refused('bob-cc-us-zz', 'unknown key "zz"');
  refused('bob-cc-us-country-de', '"country"', 'twice');
  refused('bob-cc-us-REGION-de', '"REGION"', 'twice');
  refused('bob-ip-1.2.3.4-exitnodeip-1.2.3.5', '"exitnodeip"', 'twice');
  refused('bob-session-a-sessid-b', '"sessid"', 'twice');
  refused('bob-cc', 'key "cc" has no value');
  refused('bob-cc-us-sesstime', 'key "sesstime" has no value');
  refused('', 'empty username');
  for (const raw of ['bob--cc-us', 'bob-', '-bob', 'bob-cc-us-', '-', '--']) refused(raw, 'empty part');
});

test('":", whitespace, control and non-ASCII characters are refused', () => {
  for (const raw of ['bob:pw', 'bob cc', 'bob\t', 'bob-cc-u\ns', 'bob\x00', 'bob\x7f', '\x1bbob', 'bob\u00a0', 'b\u00f6b']) {
    refused(raw, 'whitespace', '":"', 'control');
  }
  // U+212A KELVIN SIGN lower-cases to ASCII "k": it must not pass as country "ke".
  refused('bob-cc-\u212Ae', 'non-ASCII');
  refused('bob-city-\u212Aiev', 'non-ASCII');
});

test('length limit is 255 bytes', () => {
  assert.equal(MAX_USERNAME_LENGTH, 255);
  const at = (n: number): string => `${'l'.repeat(64)}-session-${'s'.repeat(64)}-city-${'c'.repeat(64)}-state-${'t'.repeat(n - 214)}`;
  assert.equal(at(255).length, 255);
  assert.equal(parsed(at(255)).tags.state, 't'.repeat(41));
  refused(at(256), 'longer than 255');
  refused('a'.repeat(1000), '255');
});

test('sesstime/sessmode without a session name the key used', () => {
  refused('bob-sesstime-30', 'sesstime', 'session');
  refused('bob-lifetime-30', 'lifetime', 'session');
  refused('bob-sessmode-strict', 'sessmode', 'session');
  refused('bob-sessionduration-5-sessionmode-soft', 'sessionduration', 'sessionmode', 'session');
});

test('conflicting exit pins name both keys', () => {
  refused('bob-exitip-1.2.3.4-port-10001', 'conflicting exit pins', 'exitip', 'port');
  refused('bob-ip-1.2.3.4-proxyindex-2', 'conflicting exit pins', 'ip', 'proxyindex');
  refused('bob-port-10001-index-2', 'conflicting exit pins', 'port', 'index');
  refused('bob-index-1-exitnodeip-1.2.3.4-port-2', 'conflicting exit pins', 'exitnodeip', 'port', 'index');
  // One pin alone is fine, and index 0 (random) still counts as given.
  assert.deepEqual(parsed('bob-index-0').tags, { index: 0 });
  refused('bob-index-0-port-1', 'conflicting exit pins');
});

test('invalid pin values and invalid logins', () => {
  refused('bob-ip-1.2.3.256', 'ip', '1.2.3.256', 'IPv4');
  refused('bob-exitip-::1', 'whitespace'); // ':' is caught before the value
  refused('bob-exitip-01.2.3.4', 'exitip', '01.2.3.4');
  refused('bob-exitip-example.com', 'exitip', 'example.com');
  refused('bob-port-0', 'port', '"0"');
  refused('bob-port-65536', 'port', '65536');
  refused('bob-port-+80', 'port', '+80');
  refused('bob-index-65536', 'index', '65536');
  refused('bob-proxyindex-x', 'proxyindex', '"x"');
  assert.equal(parsed('bob-port-65535').tags.port, 65535);
  assert.equal(parsed('bob-index-65535').tags.index, 65535);
  refused('b!b-cc-us', 'login "b!b"');
  refused('user-b/b', 'login "b/b"');
  refused(`${'a'.repeat(65)}-cc-us`, `login "${'a'.repeat(65)}"`);
  refused('user-b=b-cc-us', 'login "b=b"');
  assert.equal(parsed('a'.repeat(64)).login, 'a'.repeat(64));
});

test('exitnode: random (whatever the port) or an exit IP; UK is GB', () => {
  assert.deepEqual(parsed('bob-exitnode-random').tags, { index: 0 });
  assert.deepEqual(parsed('bob-cc-UK-exitnode-random').tags, { country: 'gb', index: 0 });
  assert.deepEqual(parsed('user-bob-EXITNODE-RANDOM-cc-uk').tags, { country: 'gb', index: 0 });
  assert.deepEqual(parsed('bob-exitnode-203.0.113.9').tags, { exitIp: '203.0.113.9' });
  refused('bob-exitnode-any', 'exitnode', '"any"', 'random');
  refused('bob-exitnode-random-index-2', 'conflicting exit pins', 'exitnode', 'index');
  refused('bob-exitnode-random-port-8001', 'conflicting exit pins', 'exitnode', 'port');
  refused('bob-exitnode-1.2.3.4-exitip-1.2.3.4', 'conflicting exit pins', 'exitnode', 'exitip');
  refused('bob-exitnode-random-exitnode-random', '"exitnode"', 'twice');
});

test('place values list alternatives with "," or ";"; other keys refuse them', () => {
  assert.deepEqual(parsed('bob-country-us,de').tags, { country: ['us', 'de'] });
  assert.deepEqual(parsed('bob-cc-US;de,UK').tags, { country: ['us', 'de', 'gb'] });
  assert.deepEqual(parsed('bob-cc-uk,gb').tags, { country: 'gb' }, 'aliases of one country collapse to one value');
  assert.deepEqual(parsed('bob-city-berlin;new_york-state-ny,be').tags, { city: ['berlin', 'new_york'], state: ['ny', 'be'] });
  assert.deepEqual(parsed('bob-asn-AS3320,7922').tags, { asn: [3320, 7922] });
  for (const raw of ['bob-country-us,', 'bob-country-,us', 'bob-country-us,,de', 'bob-cc-us;', 'bob-cc-;', 'bob-cc-,']) refused(raw, 'empty alternative');
  refused('bob-country-us,usa', 'country', '"usa"');
  refused('bob-asn-1,x', 'asn', '"x"');
  for (const [key, value] of [['session', 'a,b'], ['sessid', 'a;b'], ['exitip', '1.2.3.4,1.2.3.5'], ['port', '8001,8002'], ['index', '1;2'], ['quality', '90,80'], ['exitnode', 'random,random']] as const) {
    refused(`bob-${key}-${value}`, key, 'only country, state, city and asn take alternatives');
  }
  // A login cannot hold them either (they would read as a list of logins).
  refused('bob,alice-cc-us', 'login "bob,alice"');
});

test('quality: a whole score from 0 to 100', () => {
  assert.deepEqual(parsed('bob-quality-0').tags, { minQuality: 0 });
  assert.deepEqual(parsed('bob-cc-de-MINQUALITY-100').tags, { country: 'de', minQuality: 100 });
  for (const v of ['101', '9.5', 'high', '1e2', '+5']) refused(`bob-quality-${v}`, 'quality');
  refused('bob-quality-90-minquality-80', '"minquality"', 'twice');
});

test('hdr: opt in (1) or out (0) of X-Hopgate-Exit, per request', () => {
  assert.deepEqual(parsed('bob-hdr-1').tags, { exitHeader: true });
  assert.deepEqual(parsed('bob-cc-de-HDR-0').tags, { country: 'de', exitHeader: false });
  assert.deepEqual(parsed('user-bob-exitheader-1-session-s1').tags, { exitHeader: true, session: 's1' });
  assert.equal(formatUsername('bob', { exitHeader: true }), 'bob-hdr-1');
  assert.equal(formatUsername('bob', { exitHeader: false, minQuality: 5 }), 'bob-quality-5-hdr-0');
  for (const v of ['2', 'yes', 'true', '01', 'on']) refused(`bob-hdr-${v}`, 'hdr');
  refused('bob-hdr-1,0', 'hdr', 'alternatives');
  refused('bob-hdr-1-exitheader-0', '"exitheader"', 'twice');
  refused('bob-hdr', '"hdr"', 'no value');
});

test('random tag sets with alternatives and pins round trip through formatUsername (fuzz-style)', () => {
  // Deterministic pseudo-random draws over every key, with alternatives, checked like the fuzz target does.
  let seed = 0x2545f491;
  const next = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const pick = <T>(xs: readonly T[]): T => xs[next(xs.length)]!;
  const gens: Record<string, () => string> = {
    cc: () => Array.from({ length: 1 + next(3) }, () => pick(['us', 'DE', 'uk', 'gb', 'fr'])).join(pick([',', ';'])),
    city: () => Array.from({ length: 1 + next(2) }, () => pick(['berlin', 'New_York'])).join(','),
    st: () => pick(['ca', 'ny;be']),
    asn: () => pick(['as3320', '7922,AS1']),
    sid: () => pick(['a', 'B_2']),
    quality: () => String(next(101)),
    hdr: () => pick(['0', '1']),
  };
  const pins = [() => 'exitnode-random', () => 'exitnode-192.0.2.1', () => `index-${next(9)}`, () => `port-${8000 + next(99)}`, () => ''];
  for (let i = 0; i < 500; i++) {
    const keys = Object.keys(gens).filter(() => next(2) === 0);
    const parts = ['bob', ...keys.map((k) => `${k}-${gens[k]!()}`), pick(pins)()].filter((p) => p !== '');
    const raw = parts.join('-');
    const p = parsed(raw);
    const text = formatUsername(p.login, p.tags);
    const again = parsed(text);
    assert.deepEqual(again.tags, p.tags, `${raw} -> ${text}`);
    for (const v of [p.tags.country, p.tags.city, p.tags.state, p.tags.asn]) {
      if (Array.isArray(v)) assert.ok(v.length > 1 && new Set(v).size === v.length, `${raw}: alternatives deduplicated, a single one kept scalar`);
    }
  }
});
