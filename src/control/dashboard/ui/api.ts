/**
 * The page's only way to the control plane: the JSON API with the credentials typed into the
 * login form, kept in this tab's sessionStorage and sent only in the Authorization header.
 */
export type Auth = { kind: 'operator'; token: string } | { kind: 'customer'; login: string; password: string };
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly stale = false,
  ) {
    super(message);
  }
}

const KEY = 'hopgate.dashboard.auth';
let auth: Auth | null = loadAuth();
let session = 0; // bumped at log out: answers to an older session are dropped

function loadAuth(): Auth | null {
  try {
    const a = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as Partial<Record<string, unknown>> | null;
    if (a?.kind === 'operator' && typeof a.token === 'string') return { kind: 'operator', token: a.token };
    if (a?.kind === 'customer' && typeof a.login === 'string' && typeof a.password === 'string') return { kind: 'customer', login: a.login, password: a.password };
  } catch {
    /* not ours */
  }
  return null;
}

export function currentAuth(): Auth | null {
  return auth;
}
export function setAuth(a: Auth | null): void {
  if (a === null) {
    session++;
    sessionStorage.removeItem(KEY);
  } else sessionStorage.setItem(KEY, JSON.stringify(a));
  auth = a;
}

function authorization(a: Auth): string {
  if (a.kind === 'operator') return `Bearer ${a.token}`;
  let bin = '';
  for (const b of new TextEncoder().encode(`${a.login}:${a.password}`)) bin += String.fromCharCode(b);
  return `Basic ${btoa(bin)}`;
}

export async function api<T>(method: string, path: string, body?: unknown, as?: Auth): Promise<T> {
  const a = as ?? auth;
  if (!a) throw new ApiError('not logged in', 401);
  const started = session;
  const headers: Record<string, string> = { accept: 'application/json', authorization: authorization(a) };
  if (body !== undefined) headers['content-type'] = 'application/json';
  // credentials 'omit': no cookies, and no browser login prompt on a 401.
  const res = await fetch(path, { method, headers, body: body === undefined ? null : JSON.stringify(body), credentials: 'omit', cache: 'no-store', redirect: 'error' });
  const text = await res.text();
  if (started !== session) throw new ApiError('logged out', 0, true);
  let data: unknown;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = undefined;
  }
  if (!res.ok) {
    const msg = (data as { error?: { message?: string } } | undefined)?.error?.message;
    throw new ApiError(msg ?? `HTTP ${res.status}`, res.status);
  }
  return data as T;
}

export const enc = encodeURIComponent;
