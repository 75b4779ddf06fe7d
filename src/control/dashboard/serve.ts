/**
 * The operator/customer dashboard: static files in this folder (index.html,
 * app.js, app.css, favicon.svg), served at GET /dashboard by the control plane. The
 * page talks only to the JSON API, with the credentials typed into its login
 * form (docs/CONTROL.md, "Dashboard").
 *
 * The files are not TypeScript, so tsc does not copy them: they are read from
 * the folder of this module when it runs from source, else from the source
 * folder next to dist/ (dist/src/control/dashboard → src/control/dashboard).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

const FILES = {
  '/dashboard': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
  '/dashboard/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
} as const;

/**
 * Same-origin files only; no inline script or style; no plugins, no <base>, no
 * form navigation (forms are handled in script), never framed. Trusted Types
 * make any string-to-HTML sink (innerHTML…) throw where the browser has them.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ');

function assetDir(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [here, resolve(here, '../../../../src/control/dashboard')];
  return candidates.find((d) => existsSync(join(d, 'index.html')) && existsSync(join(d, 'app.js')));
}

function secure(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', DASHBOARD_CSP)
    .header('x-frame-options', 'DENY')
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cross-origin-opener-policy', 'same-origin')
    .header('cache-control', 'no-cache');
}

/** Adds GET /dashboard, its files under /dashboard/ and GET / leading there (public: the files hold no data). */
export function registerDashboard(app: FastifyInstance): void {
  const dir = assetDir();
  const body = new Map<string, Buffer>();
  if (dir) for (const [url, f] of Object.entries(FILES)) body.set(url, readFileSync(join(dir, f.file)));
  for (const [url, f] of Object.entries(FILES)) {
    app.get(url, async (_req, reply) => {
      const content = body.get(url);
      if (!content) {
        return secure(reply).code(503).type('text/plain; charset=utf-8').send('dashboard files not found (src/control/dashboard next to dist/)\n');
      }
      return secure(reply).code(200).type(f.type).send(content);
    });
  }
  app.get('/dashboard/', async (_req, reply) => secure(reply).redirect('/dashboard', 308));
  // The root is where a new operator looks first (a JSON 404 there said nothing); 302: / may mean more one day.
  app.get('/', async (_req, reply) => secure(reply).redirect('/dashboard', 302));
}
