import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { AppError } from '../../rules/index.ts';
import { RoleSchema } from '../../rules/schema/case.ts';
import { insertAudit, type AuditInput } from './audit.ts';
import { isoUtc, mapDbErrors, nowIso, parseInput } from './dialect.ts';
import type { Db } from './open.ts';

/**
 * Who a token belongs to: one person (HIPAA §164.312(a)(2)(i), unique user identification), named by a stable id
 * such as an e-mail address or a staff number. Shared role names are not people.
 */
export const UserIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@+-]{0,199}$/, 'a person’s id: e-mail or staff id (letters, digits, . _ @ + -)');

const CreateTokenSchema = z.strictObject({
  name: z.string().min(1).max(200),
  role: RoleSchema,
  clinicId: z.string().nullable().default(null),
  userId: UserIdSchema,
  /** A caller-chosen raw token (e.g. DEMO_ADMIN_TOKEN); omitted: 32 random bytes are generated. */
  token: z.string().min(24).optional(),
  /** Null: never expires (demo and tests). Issuing through the API or the CLI always sets one. */
  expiresAt: isoUtc.nullable().default(null),
  /** Who issued it: a user id, or `cli` / `system`. */
  createdBy: z.string().min(1).max(200).nullable().default(null),
});
export type CreateTokenInput = z.input<typeof CreateTokenSchema>;

export const ApiTokenSchema = z.object({
  id: z.string(),
  tokenHash: z.string(),
  name: z.string(),
  role: RoleSchema,
  clinicId: z.string().nullable(),
  userId: z.string(),
  createdAt: z.string(),
  revokedAt: z.string().nullable(),
  expiresAt: z.string().nullable(),
  lastUsedAt: z.string().nullable(),
  createdBy: z.string().nullable(),
});
/** A stored token. `tokenHash` never leaves the process: views show `id`. */
export type ApiToken = z.output<typeof ApiTokenSchema>;

/** sha256 hex of a raw bearer token: only the hash is stored, so a database leak yields no usable tokens. */
export function hashToken(rawToken: string): string {
  return createHash('sha256').update(rawToken, 'utf8').digest('hex');
}

/** `lastUsedAt` is refreshed when older than this: a busy token writes a few times an hour, not per request. */
const TOUCH_EVERY_MS = 5 * 60 * 1000;

export interface ListTokensOptions {
  /** Only tokens bound to this clinic. */
  clinicId?: string;
  /** Revoked tokens too (default: only not revoked). */
  includeRevoked?: boolean;
}

export interface TokenRepo {
  /**
   * Stores a new token and returns the raw value once; it cannot be read back later. CONFLICT if it exists. With
   * `audit`, the entry (its `detail` gets the token's id) commits in the same transaction.
   */
  createToken(input: CreateTokenInput, audit?: AuditInput): Promise<{ token: string; record: ApiToken }>;
  /** The not revoked token for a raw bearer value (possibly expired: the caller says so), or null. */
  findByToken(rawToken: string): Promise<ApiToken | null>;
  get(id: string): Promise<ApiToken | null>;
  /** Newest first. */
  list(opts?: ListTokensOptions): Promise<ApiToken[]>;
  /**
   * Revokes by id; true if an active token was revoked, false if absent or already revoked. With `audit`, the entry
   * commits with the revocation (and is not written when nothing was revoked).
   */
  revoke(id: string, audit?: AuditInput): Promise<boolean>;
  /** Records a use at `at`, unless one was recorded in the last few minutes. */
  touch(token: ApiToken, at: Date): Promise<void>;
}

function newTokenId(): string {
  return `tok_${randomBytes(9).toString('base64url')}`;
}

/** API bearer tokens, stored as sha256 hashes, each with a public id, an owner, an expiry and a revocation. */
export function createTokenRepo({ kysely }: Db): TokenRepo {
  return {
    async createToken(input, audit) {
      const { token: chosen, ...t } = parseInput(CreateTokenSchema, input, 'API token');
      const token = chosen ?? `eap_${randomBytes(32).toString('base64url')}`;
      const id = newTokenId();
      const row = await mapDbErrors('API token', () =>
        kysely.transaction().execute(async (trx) => {
          const inserted = await trx
            .insertInto('api_tokens')
            .values({ ...t, id, tokenHash: hashToken(token), createdAt: nowIso(), revokedAt: null, lastUsedAt: null })
            .returningAll()
            .executeTakeFirstOrThrow();
          if (audit) await insertAudit(trx, { ...audit, detail: { ...audit.detail, tokenId: id } });
          return inserted;
        }),
      );
      return { token, record: ApiTokenSchema.parse(row) };
    },
    async findByToken(rawToken) {
      const row = await kysely
        .selectFrom('api_tokens')
        .selectAll()
        .where('tokenHash', '=', hashToken(rawToken))
        .where('revokedAt', 'is', null)
        .executeTakeFirst();
      return row === undefined ? null : ApiTokenSchema.parse(row);
    },
    async get(id) {
      const row = await kysely.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst();
      return row === undefined ? null : ApiTokenSchema.parse(row);
    },
    async list(opts = {}) {
      const rows = await kysely
        .selectFrom('api_tokens')
        .selectAll()
        .$if(opts.clinicId !== undefined, (q) => q.where('clinicId', '=', opts.clinicId!))
        .$if(!opts.includeRevoked, (q) => q.where('revokedAt', 'is', null))
        .orderBy('createdAt', 'desc')
        .orderBy('id')
        .execute();
      return rows.map((r) => ApiTokenSchema.parse(r));
    },
    async revoke(id, audit) {
      return kysely.transaction().execute(async (trx) => {
        const result = await trx
          .updateTable('api_tokens')
          .set({ revokedAt: nowIso() })
          .where('id', '=', id)
          .where('revokedAt', 'is', null)
          .executeTakeFirst();
        const revoked = result.numUpdatedRows > 0n;
        if (revoked && audit) await insertAudit(trx, { ...audit, detail: { ...audit.detail, tokenId: id } });
        return revoked;
      });
    },
    async touch(token, at) {
      if (token.lastUsedAt !== null && at.getTime() - Date.parse(token.lastUsedAt) < TOUCH_EVERY_MS) return;
      const stale = new Date(at.getTime() - TOUCH_EVERY_MS).toISOString();
      await kysely
        .updateTable('api_tokens')
        .set({ lastUsedAt: at.toISOString() })
        .where('id', '=', token.id)
        .where((eb) => eb.or([eb('lastUsedAt', 'is', null), eb('lastUsedAt', '<', stale)]))
        .execute();
    },
  };
}

/** `30d`, `12h`: a token lifetime as the CLI and the API take it. */
export const ExpiresInSchema = z
  .string()
  .regex(/^[1-9]\d{0,4}[dh]$/, 'a lifetime such as 30d or 12h')
  .transform((v) => Number(v.slice(0, -1)) * (v.endsWith('d') ? 86_400_000 : 3_600_000));

export const IssueTokenSchema = z.strictObject({
  role: RoleSchema,
  /** The person the token belongs to: e-mail address or staff id. */
  userId: UserIdSchema,
  /** The clinic it is bound to; absent/null: every clinic (admins only, once there are several clinics). */
  clinicId: z.string().min(1).max(128).nullable().optional(),
  /** A label for lists (default: the user id). */
  name: z.string().min(1).max(200).optional(),
  /** Default: TOKEN_DEFAULT_TTL_DAYS; at most TOKEN_MAX_TTL_DAYS. */
  expiresIn: ExpiresInSchema.optional(),
});
export type IssueTokenRequest = z.input<typeof IssueTokenSchema>;

export interface IssueContext {
  /** Who issues: a user id, or `cli`. */
  by: string;
  byRole: string | null;
  actorType: 'user' | 'system';
  requestId?: string | null;
  now: Date;
  defaultTtlDays: number;
  maxTtlDays: number;
}

/** Well-formed but not usable here (an unknown clinic, a lifetime past this deployment's maximum): 422. */
function unusable(path: string, message: string): AppError {
  return new AppError('UNPROCESSABLE', `Token request at ${path}: ${message}`, { issues: [{ path, message }] });
}

/**
 * Issues a token for one person: validates the request, applies the lifetime policy (a default, a maximum, never
 * unlimited), refuses a doctor or nurse token bound to no clinic once there are several clinics, stores it and its
 * audit row (`token.issued`, never the raw token) in one transaction. A privacy officer's token always names its clinic. Shared by `POST /v1/tokens` and
 * `autopilot tokens issue`; who may ask is the caller's decision.
 *
 * @throws AppError `INVALID_INPUT` (malformed) or `UNPROCESSABLE` (unknown clinic, unbound doctor or nurse token
 *   among several clinics, lifetime past the maximum), with the JSON path of the problem.
 */
export async function issueToken(
  repos: { tokens: TokenRepo; clinics: { get(id: string): Promise<unknown>; count(): Promise<number> } },
  request: IssueTokenRequest,
  ctx: IssueContext,
): Promise<{ token: string; record: ApiToken }> {
  const r = parseInput(IssueTokenSchema, request, 'token request');
  const clinicId = r.clinicId ?? null;
  if (clinicId !== null && !(await repos.clinics.get(clinicId))) throw unusable('$.clinicId', 'no such clinic');
  if (clinicId === null && r.role === 'privacy') {
    throw unusable(
      '$.clinicId',
      'a privacy officer’s token must name its clinic (it sees that clinic’s accesses only)',
    );
  }
  if (clinicId === null && r.role !== 'admin' && (await repos.clinics.count()) > 1) {
    throw unusable(
      '$.clinicId',
      'a clinician token must name its clinic when there are several clinics (only an admin token may be global)',
    );
  }
  const maxMs = ctx.maxTtlDays * 86_400_000;
  const lifetime = r.expiresIn ?? Math.min(ctx.defaultTtlDays * 86_400_000, maxMs);
  if (lifetime > maxMs) throw unusable('$.expiresIn', `at most ${ctx.maxTtlDays}d`);
  const expiresAt = new Date(ctx.now.getTime() + lifetime).toISOString();
  return repos.tokens.createToken(
    { name: r.name ?? r.userId, role: r.role, userId: r.userId, clinicId, expiresAt, createdBy: ctx.by },
    {
      at: ctx.now.toISOString(),
      actorType: ctx.actorType,
      actorId: ctx.by,
      actorRole: ctx.byRole,
      action: 'token.issued',
      clinicId,
      requestId: ctx.requestId ?? null,
      detail: { role: r.role, userId: r.userId, expiresAt },
    },
  );
}

/** What lists and responses show of a token: the public id, never the token or its hash. */
export type TokenView = Omit<ApiToken, 'tokenHash'>;

/** A token as lists and responses show it: the public id, never the token or its hash. */
export function tokenView(t: ApiToken): TokenView {
  return {
    id: t.id,
    name: t.name,
    role: t.role,
    userId: t.userId,
    clinicId: t.clinicId,
    createdAt: t.createdAt,
    createdBy: t.createdBy,
    expiresAt: t.expiresAt,
    lastUsedAt: t.lastUsedAt,
    revokedAt: t.revokedAt,
  };
}
