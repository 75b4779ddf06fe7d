/**
 * The operator/customer dashboard, served at GET /dashboard (and GET / leads there) by the
 * control plane. The page talks only to the JSON API, with the credentials typed into its login
 * form (docs/CONTROL.md, "Dashboard").
 *
 * Two kinds of files: the static ones in this folder (index.html, app.css, favicon.svg; not
 * TypeScript, so read from the source folder next to dist/), and the page's ES modules compiled
 * from ui/*.ts by ui/tsconfig.json into dist/dashboard/ (npm run build). Only those modules are
 * served, under /dashboard/ui/<name>.js; everything is read once at start.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

const FILES = {
  '/dashboard': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
  '/dashboard/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
} as const;
const JS = 'text/javascript; charset=utf-8';
const MODULE_NAME = /^[a-z][a-z0-9-]{0,63}\.js$/;

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

const here = dirname(fileURLToPath(import.meta.url));

function assetDir(): string | undefined {
  const candidates = [here, resolve(here, '../../../../src/control/dashboard')];
  return candidates.find((d) => existsSync(join(d, 'index.html')) && existsSync(join(d, 'app.css')));
}

/** Where ui/tsconfig.json put the compiled modules: dist/dashboard/src/control/dashboard/ui, seen from dist/src/control/dashboard or from src/control/dashboard. */
export function moduleDir(): string | undefined {
  const rel = 'dashboard/src/control/dashboard/ui';
  const candidates = [resolve(here, '../../..', rel), resolve(here, '../../../dist', rel)];
  return candidates.find((d) => existsSync(join(d, 'app.js')));
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

function missing(reply: FastifyReply): FastifyReply {
  return secure(reply).code(503).type('text/plain; charset=utf-8').send('dashboard files not found: run npm run build (the page is compiled from src/control/dashboard/ui)\n');
}

/** Adds GET /dashboard, its files under /dashboard/ and GET / leading there (public: the files hold no data). */
export function registerDashboard(app: FastifyInstance): void {
  const dir = assetDir();
  const mods = moduleDir();
  const body = new Map<string, Buffer>();
  if (dir) for (const [url, f] of Object.entries(FILES)) body.set(url, readFileSync(join(dir, f.file)));
  const modules = new Map<string, Buffer>();
  if (mods) for (const name of readdirSync(mods)) if (MODULE_NAME.test(name)) modules.set(name, readFileSync(join(mods, name)));
  for (const [url, f] of Object.entries(FILES)) {
    app.get(url, async (_req, reply) => {
      const content = body.get(url);
      // The page without its modules would be a dead login form: say what is missing instead.
      if (!content || modules.size === 0) return missing(reply);
      return secure(reply).code(200).type(f.type).send(content);
    });
  }
  app.get<{ Params: { name: string } }>('/dashboard/ui/:name', async (req, reply) => {
    const content = MODULE_NAME.test(req.params.name) ? modules.get(req.params.name) : undefined;
    if (!content) return secure(reply).code(404).type('text/plain; charset=utf-8').send('not found\n');
    return secure(reply).code(200).type(JS).send(content);
  });
  app.get('/dashboard/', async (_req, reply) => secure(reply).redirect('/dashboard', 308));
  // The root is where a new operator looks first (a JSON 404 there said nothing); 302: / may mean more one day.
  app.get('/', async (_req, reply) => secure(reply).redirect('/dashboard', 302));
}
