import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { swaggerUI } from '@hono/swagger-ui';
import { Hono } from 'hono';
import type { ApiEnv } from '../env.ts';

const BASE = '/docs';
/** Swagger UI's own files, vendored from the pinned swagger-ui-dist package (see package.json). */
const ASSETS = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
} as const;
// Starts Swagger UI on /openapi.json. A file, not an inline <script>, so the page's CSP can forbid inline scripts.
const INIT = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true });
});
`;

let files: Record<string, string> | undefined;
function assetFiles(): Record<string, string> {
  const dir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  return (files ??= Object.fromEntries(
    Object.keys(ASSETS).map((name) => [name, readFileSync(join(dir, name), 'utf8')]),
  ));
}

/**
 * `/docs`: Swagger UI over `/openapi.json`, every script and stylesheet served from this origin (no CDN), under
 * the docs CSP of api/middleware/security-headers.ts.
 */
export function docsRoutes(): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const body = assetFiles();
  app.get(
    BASE,
    swaggerUI({
      url: '/openapi.json',
      title: 'ehr-autopilot API',
      baseUrl: BASE,
      manuallySwaggerUIHtml: (asset) =>
        [
          '<div id="swagger-ui"></div>',
          ...asset.css.map((href) => `<link rel="stylesheet" href="${href}" />`),
          ...asset.js.map((src) => `<script src="${src}"></script>`),
          `<script src="${BASE}/init.js"></script>`,
        ].join('\n'),
    }),
  );
  for (const [name, type] of Object.entries(ASSETS)) {
    // @hono/swagger-ui names the assets `<baseUrl>/swagger-ui-dist/<file>`.
    app.get(`${BASE}/swagger-ui-dist/${name}`, (c) =>
      c.body(body[name]!, 200, { 'content-type': type, 'cache-control': 'no-cache' }),
    );
  }
  app.get(`${BASE}/init.js`, (c) =>
    c.body(INIT, 200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' }),
  );
  return app;
}
