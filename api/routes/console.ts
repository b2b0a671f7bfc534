import { Hono } from 'hono';
import type { ApiEnv } from '../env.ts';

/** The web console for nurses, doctors and admins (placeholder until the console lands). */
export function consoleRoutes(): Hono<ApiEnv> {
  return new Hono<ApiEnv>().get('/', (c) =>
    c.html('<!doctype html><title>ehr-autopilot</title><p>ehr-autopilot API. See <a href="/docs">/docs</a>.</p>'),
  );
}
