// The API does exactly what /openapi.json says. Schemathesis (PyPI, pinned, in .venv-schemathesis/) fuzzes every
// operation of a real, throwaway stack — sandbox EHR, app database, worker and the API listening on loopback, on the
// run's Temporal dev server — once per role, with webhooks signed by test/contract/hooks.py. Every check is on
// (`--checks all`); the bar is 0 failures.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startHarness, TOKENS, WEBHOOK_SECRET, type Harness } from '../helpers/harness.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCHEMATHESIS = join(ROOT, '.venv-schemathesis', 'bin', 'schemathesis');
/** Fuzzing examples per operation and role; with the coverage, examples and stateful phases ≈ 2 minutes in all. */
const MAX_EXAMPLES = 25;
const SEED = 20_157;

/** Outbound connections the stack tried to open to anything but loopback (blocked; the test requires none). */
const blocked: string[] = [];
// eslint-disable-next-line @typescript-eslint/unbound-method -- restored as it was, and always called with .apply
const realConnect = net.Socket.prototype.connect;

/**
 * The stack under test runs in this process: refuse any connection it opens to a host other than loopback, before
 * DNS. The hooks keep generated EHR URLs on loopback; this proves that nothing else leaves the machine either.
 */
function loopbackOnly(): void {
  const isLoopback = (host: string | undefined) =>
    host === undefined || host === 'localhost' || /^127\./.test(host) || host === '::1' || /^::ffff:127\./.test(host);
  net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
    const [first, second] = args;
    // connect(options) | connect(port, host?) | connect(path): a path (IPC socket) never leaves the machine.
    const options = typeof first === 'object' && first !== null ? (first as { host?: string; path?: string }) : null;
    const host = options
      ? options.path
        ? 'localhost'
        : options.host
      : typeof second === 'string'
        ? second
        : undefined;
    if (!isLoopback(host)) {
      blocked.push(String(host));
      process.nextTick(() => this.destroy(new Error(`contract test: connection to ${String(host)} blocked`)));
      return this;
    }
    return (realConnect as (...a: unknown[]) => net.Socket).apply(this, args);
  };
}

let h: Harness;
let server: ServerType;
let base: string;

function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  cwd = ROOT,
): Promise<{ code: number; out: string }> {
  // Asynchronous on purpose: the API under test listens in this very process.
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, out }));
  });
}

beforeAll(async () => {
  loopbackOnly();
  const provision = await run(process.execPath, [join(ROOT, 'scripts', 'provision-schemathesis.mjs')]);
  if (provision.code !== 0) throw new Error(`provisioning schemathesis failed:\n${provision.out}`);
  // The limiter stays on, with a bound no run reaches: ~2,700 requests a role from one address in well under a
  // minute would otherwise meet the 3,000/min default, and a 429 where the contract says 401 hides what is tested.
  // Limits themselves are tested in test/api/edge.test.ts.
  h = await startHarness({
    patients: 10,
    env: { RATE_LIMIT_PER_IP: '1000000', RATE_LIMIT_WEBHOOKS_PER_CLINIC: '1000000' },
  });
  server = serve({ fetch: h.app.fetch, port: 0, hostname: '127.0.0.1' });
  if (!server.listening) await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 300_000);

afterAll(async () => {
  net.Socket.prototype.connect = realConnect;
  if (server) await new Promise((resolve) => server.close(resolve));
  await h?.close();
});

/** The numbers of a run, from Schemathesis' summary. */
function summary(out: string) {
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  return {
    operations: num(/Tested: (\d+)/),
    generated: num(/(\d+) generated/),
    failures: num(/(\d+) (?:unique )?failures?\b/) || 0,
  };
}

describe('the API against its own OpenAPI document (Schemathesis, --checks all)', () => {
  // Admin last: its run rotates webhook secrets and rewires clinics, which would starve the others' webhooks. A privacy
  // officer reads only access monitoring: every other route must answer it the documented 403.
  test.each(['nurse', 'doctor', 'privacy', 'admin'] as const)(
    'as %s: 0 failures',
    async (role) => {
      // The signing hook signs with this secret: undo a rotation by an earlier run.
      await h.store.clinics.rotateWebhookSecret(h.clinicId, {
        webhookSecret: WEBHOOK_SECRET,
        previousExpiresAt: new Date().toISOString(),
      });
      const { code, out } = await run(
        SCHEMATHESIS,
        [
          '--config-file',
          join(ROOT, 'test', 'contract', 'schemathesis.toml'),
          'run',
          `${base}/openapi.json`,
          '--checks',
          'all',
          '--header',
          `Authorization: Bearer ${TOKENS[role]}`,
          '--max-examples',
          String(MAX_EXAMPLES),
          '--seed',
          String(SEED),
          '--generation-database',
          'none',
          // Hypothesis' "generation is slow" health check: on a loaded 2-core CI machine it says nothing about the API.
          '--suppress-health-check',
          'too_slow',
          '--workers',
          '1',
          '--request-timeout',
          '30',
          '--no-color',
        ],
        {
          ...process.env,
          PYTHONPATH: join(ROOT, 'test', 'contract'),
          SCHEMATHESIS_HOOKS: 'hooks',
          AUTOPILOT_CLINIC_ID: h.clinicId,
          AUTOPILOT_WEBHOOK_SECRET: WEBHOOK_SECRET,
          PYTHONDONTWRITEBYTECODE: '1',
        },
        tmpdir(), // Schemathesis keeps replay files in its working directory: not in the checkout
      );
      const s = summary(out);
      console.log(
        `[contract] as ${role}: ${s.operations} operations, ${s.generated} test cases, ${s.failures} failures (exit ${code})`,
      );
      expect(code, out).toBe(0);
      expect(s.operations, out).toBeGreaterThanOrEqual(25);
      expect(s.failures, out).toBe(0);
      expect(blocked, 'connections the stack tried to open off loopback').toEqual([]);
    },
    300_000,
  );
});
