/**
 * The admin CLI (`hopgate user …`, `exits …`, `webhooks …`) run in this process through the CLI's own
 * dispatch (src/cli/dispatch.ts, what main.ts runs), with what it prints captured: the same parsing,
 * requests, output and exit status as `node dist/src/cli/main.js ARGS`, without the ~0.4 s of CPU a
 * Node start costs. Environment variables are set for the run only; runs take turns (process.env and
 * the working directory are the process's), so parallel test cases cannot see each other's.
 * The spawned binary keeps its own smoke cases (control-cli.test.ts, cli-help.test.ts).
 */
import { dispatch } from '../../src/cli/dispatch.js';

export interface CliRun {
  /** The exit status main.ts would end with. */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

let turn: Promise<unknown> = Promise.resolve();

export function hopgateInProcess(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const run = turn.then(() => runWithEnv(args, env));
  turn = run.catch(() => undefined);
  return run;
}

/** `hopgateInProcess` for a command that must succeed: a non-zero exit fails with its stderr, as execFile would reject. */
export async function hopgateOk(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const r = await hopgateInProcess(args, env);
  if (r.code !== 0) throw new Error(`hopgate ${args.join(' ')} exited with ${r.code}: ${r.stderr}`);
  return r;
}

async function runWithEnv(args: string[], env: Record<string, string>): Promise<CliRun> {
  const saved = Object.keys(env).map((k) => [k, process.env[k]] as const);
  for (const [k, v] of Object.entries(env)) process.env[k] = v;
  let stdout = '';
  let stderr = '';
  try {
    const code = await dispatch(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
    // undefined: the command's run resolved, and an admin command's process then ends with 0.
    return { code: code ?? 0, stdout, stderr };
  } catch (err) {
    // What main.ts does with an error no command owns: its stack on stderr, exit status 1.
    return { code: 1, stdout, stderr: stderr + `hopgate: ${(err as Error).stack ?? String(err)}\n` };
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
