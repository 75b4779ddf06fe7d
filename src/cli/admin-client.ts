/**
 * What the admin commands share: where the control plane is and the operator
 * token (--control/--token or HOPGATE_CONTROL_URL/HOPGATE_ADMIN_TOKEN), JSON
 * requests with readable errors, and a plain text table.
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_CONTROL_HOST, DEFAULT_CONTROL_PORT } from '../control/defaults.js';
import { TOKEN_FILE } from '../control/token.js';
import { CommandFailed } from './args.js';
import type { CliOutput } from './output.js';

export class AdminClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
    /** For the whole exchange, the answer's body included. */
    private readonly timeoutMs = 15_000,
  ) {}

  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          accept: 'application/json',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new AdminError(`cannot reach the control plane at ${this.baseUrl}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw new AdminError(`the control plane at ${this.baseUrl} stopped answering: ${(err as Error).message}`);
    }
    const parsed = text ? safeJson(text) : undefined;
    if (!res.ok) {
      const e = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new AdminError(`${res.status} ${e?.code ?? res.statusText}: ${e?.message ?? text}`);
    }
    return parsed as T;
  }
}

/** The control plane refused or could not be asked: one line and exit status 1 (src/cli/dispatch.ts). */
export class AdminError extends CommandFailed {
  override readonly name = 'AdminError';
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** --control / --token (strings or undefined) → a client; the token may also come from the state dir's file. */
export function adminClient(control: string | undefined, token: string | undefined, stateDir = '.hopgate'): AdminClient {
  const url = control ?? process.env.HOPGATE_CONTROL_URL ?? `http://${DEFAULT_CONTROL_HOST}:${DEFAULT_CONTROL_PORT}`;
  let t = token ?? process.env.HOPGATE_ADMIN_TOKEN;
  if (!t) {
    try {
      t = readFileSync(`${stateDir}/${TOKEN_FILE}`, 'utf8').trim();
    } catch {
      throw new AdminError(`no operator token: give --token, set HOPGATE_ADMIN_TOKEN, or run next to ${stateDir}/${TOKEN_FILE}`);
    }
  }
  return new AdminClient(url, t);
}

/** The options every admin command takes, as its usage lists them (beside COMMON_OPTIONS). */
export const COMMON_HELP = `  --control URL  the control plane (HOPGATE_CONTROL_URL, default http://${DEFAULT_CONTROL_HOST}:${DEFAULT_CONTROL_PORT})
  --token T      the operator token (HOPGATE_ADMIN_TOKEN, or <state-dir>/control-admin-token)
  --state-dir D  where that token file is (default .hopgate)     --json  machine-readable output
`;

export const COMMON_OPTIONS = {
  control: { type: 'string' },
  token: { type: 'string' },
  'state-dir': { type: 'string', default: '.hopgate' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** Columns padded to the widest cell; the header underlined. */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n';
}

export function printJson(out: CliOutput, value: unknown): void {
  out.stdout(JSON.stringify(value, null, 2) + '\n');
}

export function bytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[i]}`;
}
