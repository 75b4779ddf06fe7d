/**
 * Every command and subcommand of the real CLI answers `--help` and `-h` with its usage on
 * stdout, exit 0, and does nothing else: no file in its working directory, no connection to
 * the control plane. The list comes from the CLI's own command table (src/cli/commands.ts),
 * so a command added there without a usage fails here. An unknown option is one line and
 * exit 2; `hash-password --help` does not hash "--help"; an empty password on stdin is one
 * line, not a stack trace. The whole matrix runs in-process through the CLI's own dispatch
 * (src/cli/dispatch.ts: what main.ts runs). Real processes are kept where the process is what is
 * tested: main.ts's exit status and the usage on a real pipe (a help and an unknown option, each
 * for two commands), stdin, an error's exit 1, the ./hopgate wrapper, and hash-password's printed hash.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { COMMANDS, USAGE } from '../../src/cli/commands.js';
import { dispatch } from '../../src/cli/dispatch.js';
import { hopgateInProcess } from '../helpers/cli-in-process.js';
import { tempDir } from '../helpers/control-fixtures.js';
import { listen0 } from '../helpers/ports.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function hopgate(args: string[], opts: { stdin?: string; cwd?: string; env?: Record<string, string> } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [MAIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'], cwd: opts.cwd, env: { ...process.env, ...opts.env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // A bound on the run, not an assertion: a help text needs no time at all.
    const timer = setTimeout(() => (p.kill('SIGKILL'), reject(new Error(`hopgate ${args.join(' ')} still running after 30 s`))), 30_000);
    // 'close', not 'exit': 'exit' can come before the last of stdout is read (a loaded run saw an empty usage).
    p.once('close', (code) => (clearTimeout(timer), resolve({ code, stdout, stderr })));
    p.stdin.end(opts.stdin ?? '');
  });
}

/** The CLI in this process: what main.ts would print and exit with, for the help and usage-error paths. */
async function inProcess(args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await dispatch(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code: code ?? null, stdout, stderr };
}

/** Run `fn` with these variables set, in `cwd`; both restored after. The matrices below run in-process, one case at a time. */
function withEnvAndCwd(env: Record<string, string>, cwd: () => string): { before: () => void; after: () => void } {
  const saved: Record<string, string | undefined> = {};
  let savedCwd = '';
  return {
    before: () => {
      for (const [k, v] of Object.entries(env)) {
        saved[k] = process.env[k];
        process.env[k] = v;
      }
      savedCwd = process.cwd();
      process.chdir(cwd());
    },
    after: () => {
      process.chdir(savedCwd);
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    },
  };
}

test('./hopgate in the clone runs the CLI at once (no npx: it copies the project into its cache and rebuilds first)', async () => {
  const wrapper = fileURLToPath(new URL('../../../hopgate', import.meta.url));
  const t0 = performance.now();
  const r = await new Promise<Run>((resolve, reject) => {
    const p = spawn(wrapper, ['user', '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.once('error', reject);
    p.once('close', (code) => resolve({ code, stdout, stderr }));
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^usage: hopgate user /);
  // A bound on a pathology (a rebuild takes ~30 s), not a benchmark.
  assert.ok(performance.now() - t0 < 10_000, `took ${(performance.now() - t0).toFixed(0)} ms`);
});

test('the command table and the top-level usage name the same commands', () => {
  const listed = new Set([...USAGE.matchAll(/^ {2}([a-z][a-z-]*)\b/gm)].map((m) => m[1]!));
  listed.delete('help');
  assert.deepEqual([...listed].sort(), [...new Set(COMMANDS.map((c) => c.name))].sort());
  assert.ok(COMMANDS.length >= 10, `${COMMANDS.length} commands`);
});

describe('every command and subcommand answers --help and -h, and does nothing else', () => {
  // Where a command that acted anyway would leave traces: its working directory (state dirs,
  // written configs) and the control plane the admin commands would call.
  const cwd = tempDir('hopgate-cli-help-');
  let control: Server;
  let calls = 0;
  let scope: ReturnType<typeof withEnvAndCwd> | undefined;
  before(async () => {
    control = createServer((s) => (calls++, s.destroy()));
    const controlUrl = `http://127.0.0.1:${await listen0(control)}`;
    scope = withEnvAndCwd({ HOPGATE_CONTROL_URL: controlUrl, HOPGATE_ADMIN_TOKEN: 'not-used-by-help' }, () => cwd.path);
    scope.before();
  });
  after(() => {
    scope?.after();
    control.close();
    cwd.remove();
  });

  const cases: string[][] = [];
  for (const c of COMMANDS) {
    cases.push([c.name]);
    // Help wins wherever it stands among arguments that would otherwise act.
    for (const sub of c.subcommands) cases.push([c.name, sub], [c.name, sub, 'some-id']);
  }
  cases.push(['exit', '--connect-to', '127.0.0.1:7443', '--id', 'x'], ['hash-password', 'secret'], ['up', '--json']);

  const check = async (command: (typeof COMMANDS)[number], r: Run, args: readonly string[] = []): Promise<void> => {
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, await command.usage(args), 'its usage (its subcommand\'s, if that has its own), and nothing else on stdout');
    assert.match(r.stdout, new RegExp(`^usage: hopgate ${command.name}\\b`));
    for (const sub of command.subcommands) assert.match(r.stdout, new RegExp(`\\b${sub}\\b`), `the usage names ${sub}`);
    assert.deepEqual(readdirSync(cwd.path), [], 'nothing written');
    assert.equal(calls, 0, 'no call to the control plane');
  };

  for (const args of cases) {
    const command = COMMANDS.find((c) => c.name === args[0])!;
    for (const flag of ['--help', '-h']) {
      test(`hopgate ${[...args, flag].join(' ')}`, async () => check(command, await inProcess([...args, flag]), args.slice(1)));
    }
  }

  // The same as processes: exit status 0 (set, not forced) and the whole usage on a real pipe. That is main.ts's
  // part, the same for every command (dispatch answers help before any command runs, in-process above for each):
  // two commands stand for all, \`up\` (the command whose run binds ports) and \`exits\` (a lazily imported usage
  // module, the longest text, a subcommand's help). All 13 as processes cost ~4 s of CPU per npm test.
  for (const c of COMMANDS.filter((x) => x.name === 'up' || x.name === 'exits')) {
    test(`process: hopgate ${[c.name, ...c.subcommands.slice(0, 1)].join(' ')} --help`, async () => {
      const env = { HOPGATE_CONTROL_URL: process.env.HOPGATE_CONTROL_URL!, HOPGATE_ADMIN_TOKEN: 'not-used-by-help' };
      await check(c, await hopgate([c.name, ...c.subcommands.slice(0, 1), '--help'], { cwd: cwd.path, env }), c.subcommands.slice(0, 1));
    });
  }

  for (const c of COMMANDS) {
    test(`hopgate help ${c.name} prints its usage`, async () => {
      const r = await inProcess(['help', c.name]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, await c.usage());
    });
  }
});

describe('an unknown option is one line and exit 2, never a stack trace; every option it knows is in its usage', () => {
  const env = { HOPGATE_CONTROL_URL: 'http://127.0.0.1:9', HOPGATE_ADMIN_TOKEN: 'x' };
  const cwd = tempDir('hopgate-cli-unknown-');
  const scope = withEnvAndCwd(env, () => cwd.path);
  before(() => scope.before());
  after(() => (scope.after(), cwd.remove()));

  const cases: string[][] = [['exit', '--connect-to', '127.0.0.1:7443', '--no-such-option']];
  for (const c of COMMANDS) {
    cases.push([c.name, '--no-such-option']);
    for (const sub of c.subcommands) cases.push([c.name, sub, '--no-such-option']);
  }
  const check = async (args: string[], r: Run): Promise<void> => {
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^hopgate: Unknown option '--no-such-option' \(/);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    // The parser's own option table, as the error lists it: an option the help does not name is undocumented.
    const known = /\(known: ([^)]*)\)/.exec(r.stderr)?.[1]?.split(' ') ?? [];
    const usage = await COMMANDS.find((c) => c.name === args[0])!.usage(args.slice(1));
    const unnamed = known.filter((o) => o !== '--help' && !new RegExp(`${o}(?![\\w-])`).test(usage));
    assert.deepEqual(unnamed, [], `options of hopgate ${args[0]} its usage does not name`);
    assert.deepEqual(readdirSync(cwd.path), [], 'nothing written');
  };
  for (const args of cases) test(`hopgate ${args.join(' ')}`, async () => check(args, await inProcess(args)));
  for (const args of [['user', 'add', '--no-such-option'], ['up', '--no-such-option']]) {
    test(`process: hopgate ${args.join(' ')}`, async () => check(args, await hopgate(args, { env, cwd: cwd.path })));
  }
});

test('hopgate help with an unknown command: one line, exit 2', async () => {
  // In-process: main.ts exits with dispatch's 2 as the unknown-option processes above show.
  const r = await inProcess(['help', 'no-such-command']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^hopgate: help: unknown command 'no-such-command' \(commands: up, /);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
});

test('hash-password: after --, "--help" and "-x" are the password', async () => {
  for (const pw of ['--help', '-x']) {
    const r = await hopgate(['hash-password', '--', pw]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\$scrypt\$/);
    const { verifyPassword } = await import('../../src/shared/auth/password-hash.js');
    assert.equal(await verifyPassword(pw, r.stdout.trim()), true, `the hash is of ${pw}`);
  }
});

test('hopgate exit --help documents links: the flags, and that the fingerprint is printed at start', async () => {
  const r = await inProcess(['exit', '--help']);
  assert.match(r.stdout, /--link-listen H:P --link-allow FINGERPRINT/);
  assert.match(r.stdout, /fingerprint is printed at start/);
});

test('hash-password on empty stdin: one line, no stack trace, non-zero', async () => {
  const r = await hopgate(['hash-password'], { stdin: '' });
  assert.notEqual(r.code, 0);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^hopgate: hash-password: empty password/);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
});

test('ingress --config on a missing file: one line naming it, no stack trace, non-zero', async () => {
  const r = await hopgate(['ingress', '--config', '/nonexistent/hopgate.yaml']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /^hopgate: cannot read \/nonexistent\/hopgate\.yaml: no such file/);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
});

test('hopgate usage domains --help (and help usage domains) prints the domains usage: its periods, its limit', async () => {
  const { DOMAINS_USAGE } = await import('../../src/cli/admin-login-domain.js');
  for (const args of [['usage', 'domains', '--help'], ['usage', 'domains', 'carol', '-h'], ['help', 'usage', 'domains']]) {
    const r = await inProcess(args);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, DOMAINS_USAGE, args.join(' '));
  }
  // A customer called "domains" is reached after --, as the usage says: that is the usage command's help.
  const { USAGE_USAGE } = await import('../../src/cli/admin-usage.js');
  assert.equal((await inProcess(['usage', '--help'])).stdout, USAGE_USAGE);
});

test('hopgate control: a retention under a day or past any date is one line and exit 2, not a silent 30 days or a prune that throws', async () => {
  // --nats-requests without --nats-url is refused too, after these: no control plane starts whatever happens.
  for (const [flag, v] of [['--health-history-days', '0.4'], ['--stats-retention-days', '0.2'], ['--health-history-days', '1e9'], ['--stats-retention-days', '1e9']] as const) {
    const r = await inProcess(['control', flag, v, '--nats-requests']);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, `hopgate: ${flag} must be a number of days from 1 to 36500\n`, `${flag} ${v}`);
  }
});

test("hopgate control's millisecond flags: a number a timer takes as it is (intervals at least 100 ms), else one line and exit 2", async () => {
  // --nats-requests without --nats-url is refused after these: an accepted value ends there, and no control plane starts.
  const taken = 'hopgate: --nats-requests needs --nats-url\n';
  for (const [flag, min] of [['--stats-interval-ms', 100], ['--legitimacy-interval-ms', 100], ['--db-wait-ms', 1]] as const) {
    // 0.4 was rounded to 0, the default silently; 2147483648 fires a timer every 1 ms; 'abc' and 0 reached setInterval as they were.
    for (const bad of ['abc', '0', '-5', '0.4', String(min - 1), '2147483648', '0x10', '1e3', ' 7 ']) {
      const r = await inProcess(['control', `${flag}=${bad}`, '--nats-requests']);
      assert.deepEqual([r.code, r.stderr], [2, `hopgate: ${flag} must be ${min}-2147483647 (milliseconds)\n`], `${flag} '${bad}'`);
    }
    for (const good of [String(min), '2147483647']) {
      const r = await inProcess(['control', `${flag}=${good}`, '--nats-requests']);
      assert.deepEqual([r.code, r.stderr], [2, taken], `${flag} ${good}`);
    }
  }
  // A half-life or warm-up that rounds to 0 ms was the default, silently.
  for (const [flag, v] of [['--legitimacy-half-life-h', '1e-9'], ['--legitimacy-warmup-min', '0.000001']] as const) {
    const r = await inProcess(['control', `${flag}=${v}`, '--nats-requests']);
    assert.deepEqual([r.code, r.stderr], [2, `hopgate: ${flag} must be a positive number\n`], `${flag} ${v}`);
  }
});

test('hopgate exit --link-keys-every-ms: 100-3600000, decimal digits only, forward and reverse alike', async () => {
  // Without a relay secret (forward) an accepted value ends at that check: no exit starts.
  const forward = ['exit', '--listen', '127.0.0.1:0'];
  const noSecret = 'hopgate: the relay secret comes from --secret-file FILE or HOPGATE_EXIT_SECRET\n';
  for (const bad of ['1', '99', '3600001', '0x64', '1e3', '+500', '-0']) {
    const r = await hopgateInProcess([...forward, `--link-keys-every-ms=${bad}`], { HOPGATE_EXIT_SECRET: '' });
    assert.deepEqual([r.code, r.stderr], [2, 'hopgate: --link-keys-every-ms must be 100-3600000 (milliseconds)\n'], `forward '${bad}'`);
  }
  for (const good of ['100', '3600000']) {
    const r = await hopgateInProcess([...forward, `--link-keys-every-ms=${good}`], { HOPGATE_EXIT_SECRET: '' });
    assert.deepEqual([r.code, r.stderr], [2, noSecret], `forward ${good}`);
  }
  // A reverse exit past its checks dials the ingress: only refusals here (the values it takes are the shared millisFlag's, unit-tested).
  const reverse = ['exit', '--connect-to', '127.0.0.1:1', '--id', 'r1'];
  for (const bad of ['5', '3600001']) {
    const r = await hopgateInProcess([...reverse, `--link-keys-every-ms=${bad}`], { HOPGATE_EXIT_TOKEN: 't' });
    assert.deepEqual([r.code, r.stderr], [2, 'hopgate: --link-keys-every-ms must be 100-3600000 (milliseconds)\n'], `reverse '${bad}'`);
  }
  // '0x10' was 16 ms to Number(); refused now before the (refused) key interval is reached.
  const hex = await hopgateInProcess([...reverse, '--drain-ms=0x10', '--link-keys-every-ms=5'], { HOPGATE_EXIT_TOKEN: 't' });
  assert.deepEqual([hex.code, hex.stderr], [2, 'hopgate: --drain-ms must be 0-2147483647 (milliseconds)\n']);
});

test('whole-number flags (workers, pool, links, ports): decimal digits in range, else one line and exit 2 before anything starts', async () => {
  const refused = async (args: string[], env: Record<string, string>, message: string): Promise<void> => {
    const r = await hopgateInProcess(args, env);
    assert.deepEqual([r.code, r.stderr], [2, `hopgate: ${message}\n`], args.join(' '));
  };
  // --workers: 'abc' was NaN to Number() and slipped past every range check (no worker forked).
  for (const bad of ['abc', '0', '65', '0x2', '2e0', '+2', '']) {
    await refused(['ingress', '--config', '/nonexistent/hopgate.yaml', `--workers=${bad}`], {}, '--workers must be 1-64 (ingress worker processes)');
    await refused(['ingress', '--control', 'http://127.0.0.1:1', `--workers=${bad}`], {}, '--workers must be 1-64 (ingress worker processes)');
    await refused(['up', '--state-dir', '/nonexistent/hopgate-state', `--workers=${bad}`], {}, '--workers must be 1-64 (ingress worker processes)');
  }
  // A good count goes on to the next check.
  const good = await hopgateInProcess(['ingress', '--config', '/nonexistent/hopgate.yaml', '--workers=64']);
  assert.match(good.stderr, /^hopgate: cannot read \/nonexistent\/hopgate\.yaml/);
  for (const flag of ['demo-port', 'admin-port', 'control-port', 'exit-port', 'exit-link-port', 'tunnel-port']) {
    for (const bad of ['abc', '0', '65536', '0x50']) await refused(['up', '--state-dir', '/nonexistent/hopgate-state', `--${flag}=${bad}`], {}, `--${flag} must be 1-65535 (a port)`);
  }
  const reverse = ['exit', '--connect-to', '127.0.0.1:1', '--id', 'r1'];
  for (const bad of ['abc', '0', '100001', '0x10', '1e3']) await refused([...reverse, `--pool=${bad}`], { HOPGATE_EXIT_TOKEN: 't' }, '--pool must be 1-100000');
  for (const bad of ['abc', '0', '65', '1e1']) await refused([...reverse, `--links=${bad}`], { HOPGATE_EXIT_TOKEN: 't' }, '--links must be 1-64');
  for (const bad of ['http', '0', '65536', '0x50']) await refused([...reverse, `--allow-port=${bad}`], { HOPGATE_EXIT_TOKEN: 't' }, '--allow-port must be 1-65535 (a target port)');
  await refused([...reverse, '--admin=65536'], { HOPGATE_EXIT_TOKEN: 't' }, '--admin must be 0-65535 (its port)');
  for (const bad of ['abc', '0x50']) await refused([...reverse, `--admin=${bad}`], { HOPGATE_EXIT_TOKEN: 't' }, '--admin must be PORT or HOST:PORT (its /metrics and /healthz)');
  await refused(['ingress', '--control', 'http://127.0.0.1:1', '--admin=127.0.0.1:65536'], { HOPGATE_INGRESS_TOKEN: 't' }, '--admin must be 0-65535 (its port)');
  await refused(['exit', '--listen', '127.0.0.1:0', '--admin=abc'], { HOPGATE_EXIT_SECRET: '' }, '--admin must be 0-65535 (its /metrics port)');
  await refused(['exit', '--listen', '127.0.0.1:65536'], { HOPGATE_EXIT_SECRET: '' }, '--listen must be 0-65535 (its port)');
  // Each case below carries a later refusal that starts nothing (an empty secret, no --id, a bad --stats-interval-ms,
  // a bad test hash cost): before these ports were checked up front, they got that far, not further, in this process.
  for (const bad of ['99999', '65536']) {
    // It was taken after the exit already listened.
    await refused(['exit', '--listen', '127.0.0.1:0', `--link-listen=127.0.0.1:${bad}`], { HOPGATE_EXIT_SECRET: '' }, '--link-listen must be 0-65535 (its port)');
    // ERR_SOCKET_BAD_PORT when the socket opened: a stack trace.
    await refused(['exit', `--connect-to=127.0.0.1:${bad}`], {}, '--connect-to must be 1-65535 (the ingress tunnel port)');
    await refused(['control', `--listen=127.0.0.1:${bad}`, '--stats-interval-ms=1'], {}, '--listen must be 0-65535 (its port)');
  }
  await refused(['exit', '--connect-to=127.0.0.1:0'], {}, '--connect-to must be 1-65535 (the ingress tunnel port)');
  const upDir = tempDir('hopgate-cli-up-');
  try {
    const up = ['up', '--state-dir', upDir.path];
    const badCost = { HOPGATE_TEST_SCRYPT_LN: 'x' };
    // --exit-link-port defaults to --exit-port + 1: past 65535 from --exit-port 65535. On the exits' own address, the same port twice cannot both listen.
    await refused([...up, '--exit-port=65535'], badCost, '--exit-port 65535 leaves no port for the exits\' links (--exit-link-port defaults to --exit-port + 1): give --exit-link-port P');
    await refused([...up, '--exit-port=7001', '--exit-link-port=7001'], badCost, '--exit-link-port must differ from --exit-port (the exits take SOCKS5 and links on the same address)');
    // --ports was taken by Number() unbounded: 9000-99999 was refused only by the control plane, after the exits started.
    const range = '--ports must be FIRST-LAST with 1 ≤ FIRST ≤ LAST ≤ 65535, at most 1024 ports';
    for (const bad of ['9000-99999', '0-99', '9000-8999', '8000-9024', '1-65535']) await refused([...up, `--ports=${bad}`], badCost, range);
    for (const bad of ['8000', '8000-', 'a-b', '0x10-0x20']) await refused([...up, `--ports=${bad}`], badCost, '--ports must look like 8000-8099');
    // In range, up to 1024 ports wide: on to the next check (the test hash cost), nothing started.
    for (const good of ['8000-9023', '65535-65535']) {
      const r = await hopgateInProcess([...up, `--ports=${good}`], badCost);
      assert.deepEqual([r.code, r.stderr], [2, 'hopgate: HOPGATE_TEST_SCRYPT_LN must be 10 to 14 (a scrypt cost below production\'s 15, for tests only), not "x"\n'], good);
    }
  } finally {
    upDir.remove();
  }
  // The admin CLI: a typo is one line and exit 2 here, not a request the control plane (none at port 1) answers.
  const admin = ['--control', 'http://127.0.0.1:1', '--token', 't'];
  for (const bad of ['99999', '0', 'abc', '0x50']) {
    await refused(['exits', 'add', 'x1', '--host', '127.0.0.1', `--port=${bad}`, ...admin], {}, '--port must be 1-65535 (the exit\'s SOCKS5 port)');
    await refused(['exits', 'add', 'x1', '--host', '127.0.0.1', '--port=7001', `--link-port=${bad}`, '--link-fingerprint=ab', ...admin], {}, '--link-port must be 1-65535 (the exit\'s --link-listen port)');
    await refused(['exits', 'add', 'x1', '--reverse', `--allow-port=${bad}`, ...admin], {}, '--allow-port must be 1-65535 (a target port)');
    await refused(['exits', 'link', 'x1', '--fingerprint=ab', `--port=${bad}`, ...admin], {}, '--port must be 1-65535 (the exit\'s --link-listen port)');
  }
  for (const bad of ['0', '100001', '1e3']) await refused(['exits', 'add', 'x1', '--reverse', `--max-connections=${bad}`, ...admin], {}, '--max-connections must be 1-100000 (links and work connections at once)');
  for (const bad of ['0', '4294967296', 'AS64500']) await refused(['exits', 'add', 'x1', '--host', '127.0.0.1', '--port=7001', `--asn=${bad}`, ...admin], {}, '--asn must be 1-4294967295 (an AS number)');
});
