// The only module allowed to read process.env (lint: no-restricted-properties).
import { z } from 'zod';
import { AppError } from '../rules/index.ts';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === '' ? undefined : v));
const port = z.coerce.number().int().min(1).max(65535);
/** A bearer token (demo tokens, METRICS_TOKEN): what `Authorization: Bearer` accepts (api/middleware/auth.ts), at least as long as tokens are. */
const bearerToken = optionalString.pipe(
  z
    .string()
    .regex(/^[A-Za-z0-9._~+/=-]{24,512}$/, {
      message: 'must be 24 to 512 characters of A-Z a-z 0-9 . _ ~ + / = - (a bearer token), or unset',
    })
    .optional(),
);

/** Every variable the product reads, with its default. `.env.example` mirrors this list. */
const ConfigObject = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Where every embedded state lives: app.db, temporal.db, payload.key. */
  DATA_DIR: z.string().min(1).default('data'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: port.default(3000),
  /** Public base URL of the API, used in links; defaults to http://HOST:PORT. */
  PUBLIC_URL: z.url().optional(),

  /** Unset: `npm start` runs the embedded Temporal dev server on TEMPORAL_PORT. Set: a cluster or Temporal Cloud. */
  TEMPORAL_ADDRESS: optionalString,
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('ehr-autopilot'),
  TEMPORAL_PORT: port.default(7233),
  TEMPORAL_UI_PORT: port.default(8233),
  /** Temporal Cloud API key (implies TLS). */
  TEMPORAL_API_KEY: optionalString,
  TEMPORAL_TLS: bool.default(false),

  /** Unset: SQLite at $DATA_DIR/app.db. postgres://… : PostgreSQL. */
  DATABASE_URL: optionalString,

  /** base64 of 32 random bytes: the AES-256-GCM key for Temporal payloads. `npm start` generates one into DATA_DIR. */
  PAYLOAD_KEY: optionalString.refine((v) => v === undefined || Buffer.from(v, 'base64').length === 32, {
    message: 'must be base64 of exactly 32 bytes',
  }),
  PAYLOAD_KEY_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/)
    .default('k1'),
  /** Older keys still accepted for decryption during rotation: "id:base64,id:base64". */
  PAYLOAD_OLD_KEYS: optionalString,

  SANDBOX_PORT: port.default(3001),
  SANDBOX_PATIENTS: z.coerce.number().int().min(1).max(100_000).default(200),
  SANDBOX_SEED: z.coerce.number().int().default(2015),
  SANDBOX_LATENCY_MS: z.coerce.number().min(0).max(60_000).default(0),
  SANDBOX_FAULT_RATE: z.coerce.number().min(0).max(1).default(0),

  /**
   * May EHR URLs reach loopback, private, link-local, unique-local or CGNAT addresses? Unset: only when
   * DEMO=1 (the sandbox EHR on loopback). Cloud metadata addresses are refused always.
   */
  EHR_ALLOW_PRIVATE_NETWORKS: bool.optional(),
  /** Refuse http: EHR URLs. Unset: when NODE_ENV=production. */
  EHR_REQUIRE_HTTPS: bool.optional(),
  /** Lifetime of an issued API token when the issuer gives none, and the longest one allowed (days). */
  TOKEN_DEFAULT_TTL_DAYS: z.coerce.number().int().min(1).max(3650).default(90),
  TOKEN_MAX_TTL_DAYS: z.coerce.number().int().min(1).max(3650).default(365),
  /** Lifetime of the session token a SMART App Launch sign-in issues (hours). */
  SMART_SESSION_TTL_HOURS: z.coerce.number().int().min(1).max(24).default(8),

  /** Seed the demo clinic `demo` (on the sandbox EHR) at API start. `npm start` sets it; a deploy never needs it. */
  DEMO: z
    .enum(['true', 'false', '1', '0', 'yes', 'no', ''])
    .default('')
    .transform((v) => v === 'true' || v === '1' || v === 'yes'),
  /** The demo clinic's credentials; unset: generated once into $DATA_DIR/demo-credentials.json. */
  DEMO_WEBHOOK_SECRET: optionalString.pipe(
    z
      .string()
      .regex(/^[\x21-\x7e]{16,512}$/, { message: 'must be 16 to 512 printable characters without spaces, or unset' })
      .optional(),
  ),
  DEMO_ADMIN_TOKEN: bearerToken,
  DEMO_DOCTOR_TOKEN: bearerToken,
  DEMO_NURSE_TOKEN: bearerToken,
  DEMO_PHARMACIST_TOKEN: bearerToken,
  DEMO_PA_TOKEN: bearerToken,

  /**
   * How many reverse proxies in front of the API append to X-Forwarded-For: `false`/`0` (default) ignores the header
   * and uses the socket's address; `true` = 1; a number = that many hops. Set it only behind a proxy you run.
   */
  TRUST_PROXY: z
    .string()
    .regex(/^(true|false|\d{1,2})$/, { message: 'must be true, false or a number of proxy hops' })
    .default('false')
    .transform((v) => (v === 'true' ? 1 : v === 'false' ? 0 : Number(v))),
  /** The rate limits' fixed window. */
  RATE_LIMIT_WINDOW_SECONDS: z.coerce.number().int().min(1).max(3600).default(60),
  /** Requests per window from one client IP (an IPv6 /64), any route but /health; 0 turns the limit off. */
  RATE_LIMIT_PER_IP: z.coerce.number().int().min(0).default(3000),
  /** Signed webhooks per window for one clinic, counted after the signature checks out; 0 turns the limit off. */
  RATE_LIMIT_WEBHOOKS_PER_CLINIC: z.coerce.number().int().min(0).default(1800),

  /**
   * Bearer token that GET /metrics (API) and the worker's metrics endpoint require; unset: they answer anyone who
   * reaches them (bind them to a private network then).
   */
  METRICS_TOKEN: bearerToken,
  /** The worker's Prometheus endpoint (`/metrics`, its own and the Temporal SDK's metrics); 0 turns it off. */
  WORKER_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  WORKER_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /** OTLP/HTTP (protobuf) collector base URL, e.g. http://127.0.0.1:4318: traces go to {url}/v1/traces. Unset: no tracing. */
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalString.pipe(z.url().optional()),

  /** The most cases one batch signature may sign (POST /v1/queues/signature/batch-sign); a larger batch is refused with 400. */
  BATCH_SIGN_MAX_ITEMS: z.coerce.number().int().min(1).max(500).default(50),
  /** How long a batch signer may undo before the orders go out (a durable timer in each case's workflow). */
  BATCH_SIGN_UNDO_SECONDS: z.coerce.number().int().min(1).max(600).default(30),

  /**
   * A Subscription catch-up queries the topic's resources changed since the last notification seen, less this margin
   * (the EHR's clock against ours, and its delay between a change and its notification).
   */
  SUBSCRIPTION_CATCH_UP_SKEW_SECONDS: z.coerce.number().int().min(0).max(86_400).default(300),
});
export const ConfigSchema = ConfigObject.superRefine((c, ctx) => {
  // One token per role: a token given twice would be found as the first role, and the second role never created.
  const seen = new Map<string, string>();
  for (const name of [
    'DEMO_ADMIN_TOKEN',
    'DEMO_DOCTOR_TOKEN',
    'DEMO_NURSE_TOKEN',
    'DEMO_PHARMACIST_TOKEN',
    'DEMO_PA_TOKEN',
  ] as const) {
    const value = c[name];
    if (value === undefined) continue;
    const first = seen.get(value);
    if (first) ctx.addIssue({ code: 'custom', path: [name], message: `must differ from ${first}` });
    else seen.set(value, name);
  }
});
export type Config = Readonly<z.infer<typeof ConfigSchema>>;

/** Parses the environment once, listing every problem at once (names and reasons, never values). */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    const problems = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
    throw new AppError('CONFIG_INVALID', `Invalid configuration: ${problems}`, { issues });
  }
  return Object.freeze(parsed.data);
}

/** The Temporal frontend address this process should use. */
export function temporalAddress(config: Config): string {
  return config.TEMPORAL_ADDRESS ?? `127.0.0.1:${config.TEMPORAL_PORT}`;
}

/** The API's public base URL, for links in responses. */
export function publicUrl(config: Config): string {
  return config.PUBLIC_URL ?? `http://${config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST}:${config.PORT}`;
}
