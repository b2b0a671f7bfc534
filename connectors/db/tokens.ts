import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { mapDbErrors, nowIso, parseInput } from './dialect.ts';
import type { Db } from './open.ts';

const RoleSchema = z.enum(['admin', 'doctor', 'nurse']);

const CreateTokenSchema = z.strictObject({
  name: z.string().min(1).max(200),
  role: RoleSchema,
  clinicId: z.string().nullable().default(null),
  userId: z.string().min(1),
  /** A caller-chosen raw token (e.g. DEMO_ADMIN_TOKEN); omitted: 32 random bytes are generated. */
  token: z.string().min(24).optional(),
});
export type CreateTokenInput = z.input<typeof CreateTokenSchema>;

export const ApiTokenSchema = z.object({
  tokenHash: z.string(),
  name: z.string(),
  role: RoleSchema,
  clinicId: z.string().nullable(),
  userId: z.string(),
  createdAt: z.string(),
  revokedAt: z.string().nullable(),
});
export type ApiToken = z.output<typeof ApiTokenSchema>;

/** sha256 hex of a raw bearer token: only the hash is stored, so a database leak yields no usable tokens. */
export function hashToken(rawToken: string): string {
  return createHash('sha256').update(rawToken, 'utf8').digest('hex');
}

export interface TokenRepo {
  /** Stores a new token and returns the raw value once; it cannot be read back later. CONFLICT if it exists. */
  createToken(input: CreateTokenInput): Promise<{ token: string; record: ApiToken }>;
  /** The active (not revoked) token for a raw bearer value, or null. */
  findByToken(rawToken: string): Promise<ApiToken | null>;
  /** Revokes by hash; true if an active token was revoked, false if absent or already revoked. */
  revoke(tokenHash: string): Promise<boolean>;
}

/** API bearer tokens, stored as sha256 hashes. */
export function createTokenRepo({ kysely }: Db): TokenRepo {
  return {
    async createToken(input) {
      const { token: chosen, ...t } = parseInput(CreateTokenSchema, input, 'API token');
      const token = chosen ?? `eap_${randomBytes(32).toString('base64url')}`;
      const row = await mapDbErrors('API token', () =>
        kysely
          .insertInto('api_tokens')
          .values({ ...t, tokenHash: hashToken(token), createdAt: nowIso(), revokedAt: null })
          .returningAll()
          .executeTakeFirstOrThrow(),
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
    async revoke(tokenHash) {
      const result = await kysely
        .updateTable('api_tokens')
        .set({ revokedAt: nowIso() })
        .where('tokenHash', '=', tokenHash)
        .where('revokedAt', 'is', null)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },
  };
}
