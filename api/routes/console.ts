import { readdirSync, readFileSync } from 'node:fs';
import { Hono } from 'hono';
import type { ApiEnv } from '../env.ts';

const JS = 'text/javascript; charset=utf-8';

/**
 * The console's files: plain HTML, CSS and ES modules (app.js, the analytics and protocol pages, and one module per
 * protocol kind in kinds/), served as they are (no build step, no CDN).
 */
const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/console/app.js': { file: 'app.js', type: JS },
  '/console/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
  '/console/analytics.js': { file: 'analytics.js', type: JS },
  '/console/analytics.css': { file: 'analytics.css', type: 'text/css; charset=utf-8' },
  '/console/batch-sign.js': { file: 'batch-sign.js', type: JS },
  '/console/protocols.js': { file: 'protocols.js', type: JS },
  '/console/protocols.css': { file: 'protocols.css', type: 'text/css; charset=utf-8' },
  '/console/protocol-form.js': { file: 'protocol-form.js', type: JS },
  '/console/clinics.js': { file: 'clinics.js', type: JS },
  '/console/clinics.css': { file: 'clinics.css', type: 'text/css; charset=utf-8' },
  '/console/access.js': { file: 'access.js', type: JS },
  '/console/access.css': { file: 'access.css', type: 'text/css; charset=utf-8' },
  ...Object.fromEntries(
    readdirSync(new URL('../console/kinds/', import.meta.url))
      .filter((f) => /^[a-z0-9-]+\.js$/.test(f))
      .map((f) => [`/console/kinds/${f}`, { file: `kinds/${f}`, type: JS }]),
  ),
};

/**
 * The web console for nurses, doctors and admins: sign in with a bearer token, work the signature / nurse / doctor
 * queues, read a case's criteria and evidence, decide. A static page over the public API (it holds no server-side
 * state and no PHI); the files are read once, when the app is built. Its CSP (same origin only, no inline script, no
 * framing) is set with every other response's in api/middleware/security-headers.ts.
 */
export function consoleRoutes(): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  for (const [path, { file, type }] of Object.entries(ASSETS)) {
    const body = readFileSync(new URL(`../console/${file}`, import.meta.url), 'utf8');
    // no-cache: revalidate on each load, so a deploy never leaves an old app.js beside a new index.html.
    app.get(path, (c) => c.body(body, 200, { 'content-type': type, 'cache-control': 'no-cache' }));
  }
  return app;
}
