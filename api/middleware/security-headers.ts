import type { MiddlewareHandler } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import type { ApiEnv } from '../env.ts';

const common = { referrerPolicy: 'no-referrer', xFrameOptions: 'DENY' } as const;

/** JSON answers and errors: nothing may load, run or frame anything. */
const api = secureHeaders({
  ...common,
  contentSecurityPolicy: { defaultSrc: ["'none'"], baseUri: ["'none'"], frameAncestors: ["'none'"] },
});

// The console: everything the page loads comes from this origin; no inline script, no framing.
const consolePage = secureHeaders({
  ...common,
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
});

// Swagger UI, vendored from swagger-ui-dist and served from this origin: no CDN, no inline script. Swagger UI sets
// style attributes on its elements, so only styles may be inline.
const docs = secureHeaders({
  ...common,
  contentSecurityPolicy: {
    defaultSrc: ["'none'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'", "'unsafe-inline'"],
    imgSrc: ["'self'", 'data:'],
    fontSrc: ["'self'"],
    connectSrc: ["'self'"],
    formAction: ["'self'"],
    baseUri: ["'none'"],
    frameAncestors: ["'none'"],
  },
});

/**
 * Security headers (CSP, HSTS, nosniff, no framing, no referrer, COOP/CORP) on every response — API, errors, 404,
 * console and docs — with the policy chosen by path; anything new gets the API's, which allows nothing.
 */
export function securityHeaders(): MiddlewareHandler<ApiEnv> {
  return (c, next) => {
    const path = c.req.path;
    // The SMART App Launch pages (api/routes/smart.ts) load the console's stylesheet, nothing else.
    if (path === '/' || path.startsWith('/console/') || path.startsWith('/smart/')) return consolePage(c, next);
    if (path === '/docs' || path.startsWith('/docs/')) return docs(c, next);
    return api(c, next);
  };
}

/**
 * `Cache-Control: no-store` on every /v1 response (cases, queues, audit, protocols, simulations, clinics, errors):
 * they carry patient data or may, and no browser or proxy cache may keep them.
 */
export function noStore(): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    await next();
    if (c.req.path.startsWith('/v1/')) {
      c.res.headers.set('Cache-Control', 'no-store');
      c.res.headers.set('Pragma', 'no-cache');
    }
  };
}
