/**
 * One webhook request: POST a JSON body, bounded in time (the whole
 * exchange), in what is read back (the status and at most `maxResponseBytes`
 * of the body, then the connection is cut), never following a redirect (a
 * 3xx is a failure: the receiver's address is the operator's to change), and
 * only to http: or https: URLs.
 */
import http from 'node:http';
import https from 'node:https';

export interface PostOptions {
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  readonly agents?: { readonly http: http.Agent; readonly https: https.Agent };
}

export interface PostResult {
  /** The receiver's status, or null when it never answered. */
  readonly statusCode: number | null;
  readonly latencyMs: number;
  /** Why it is not a success, or null for a 2xx. */
  readonly error: string | null;
}

export function postJson(target: string, headers: Record<string, string>, body: string, o: PostOptions): Promise<PostResult> {
  const started = performance.now();
  const done = (statusCode: number | null, error: string | null): PostResult => ({ statusCode, latencyMs: performance.now() - started, error });
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return Promise.resolve(done(null, 'invalid URL'));
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return Promise.resolve(done(null, `refused: scheme ${url.protocol} (http and https only)`));
  const mod = url.protocol === 'https:' ? https : http;
  const agent = o.agents ? (url.protocol === 'https:' ? o.agents.https : o.agents.http) : undefined;
  return new Promise<PostResult>((resolve) => {
    let settled = false;
    const finish = (r: PostResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const req = mod.request(url, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'user-agent': 'hopgate-webhooks' },
      ...(agent ? { agent } : {}),
    });
    const timer = setTimeout(() => {
      finish(done(null, `timed out after ${o.timeoutMs} ms`));
      req.destroy();
    }, o.timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => finish(done(null, err.code ? `${err.code}: ${err.message}` : err.message)));
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      let read = 0;
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > o.maxResponseBytes) res.destroy(); // what the receiver says past this is not read
      });
      const verdict = (): PostResult => {
        if (status >= 200 && status < 300) return done(status, null);
        if (status >= 300 && status < 400) return done(status, `redirect not followed${res.headers.location ? ` (Location: ${String(res.headers.location).slice(0, 200)})` : ''}`);
        return done(status, `HTTP ${status}`);
      };
      res.on('end', () => finish(verdict()));
      res.on('close', () => finish(verdict()));
      res.on('error', () => finish(verdict()));
    });
    req.end(body);
  });
}
