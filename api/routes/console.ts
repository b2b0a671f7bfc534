import { readFileSync } from 'node:fs';
import { Hono } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import type { ApiEnv } from '../env.ts';

/** The console's files: plain HTML, CSS and one ES module, served as they are (no build step, no CDN). */
const ASSETS = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/console/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/console/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
} as const;

// Everything the page loads comes from this origin; no inline script, no framing, no referrer leaving the page.
const headers = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'none'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'", 'data:'],
    connectSrc: ["'self'"],
    formAction: ["'self'"],
    baseUri: ["'none'"],
    frameAncestors: ["'none'"],
  },
  referrerPolicy: 'no-referrer',
});

/**
 * The web console for nurses, doctors and admins: sign in with a bearer token, work the signature / nurse / doctor
 * queues, read a case's criteria and evidence, decide. A static page over the public API (it holds no server-side
 * state and no PHI); the files are read once, when the app is built.
 */
export function consoleRoutes(): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  for (const [path, { file, type }] of Object.entries(ASSETS)) {
    const body = readFileSync(new URL(`../console/${file}`, import.meta.url), 'utf8');
    // no-cache: revalidate on each load, so a deploy never leaves an old app.js beside a new index.html.
    app.get(path, headers, (c) => c.body(body, 200, { 'content-type': type, 'cache-control': 'no-cache' }));
  }
  return app;
}
