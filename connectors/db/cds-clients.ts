import { z } from 'zod';
import { mapDbErrors, nowIso, parseInput } from './dialect.ts';
import type { Db } from './open.ts';

/** A CDS Hooks client of a clinic: the EHR's JWT issuer and where its public keys are. */
export interface CdsClient {
  iss: string;
  clinicId: string;
  /** The EHR's JWKS URL (https); null when `jwks` holds its keys. */
  jwksUrl: string | null;
  /** An inline JWKS (`{ keys: [...] }`); null when `jwksUrl` is used. */
  jwks: { keys: Record<string, unknown>[] } | null;
}

const JwksSchema = z.strictObject({ keys: z.array(z.record(z.string(), z.unknown())).min(1).max(20) });

const CdsClientSchema = z
  .strictObject({
    iss: z.string().min(1).max(512),
    clinicId: z.string().min(1),
    jwksUrl: z
      .url({ protocol: /^https$/ })
      .max(2048)
      .nullable(),
    jwks: JwksSchema.nullable(),
  })
  .refine((c) => (c.jwksUrl === null) !== (c.jwks === null), {
    message: 'exactly one of jwksUrl and jwks',
    path: ['jwksUrl'],
  });

export interface CdsClientRepo {
  /** The client registered under `iss`, if any. */
  get(iss: string): Promise<CdsClient | null>;
  /** Registers (or replaces) the client of `iss`. */
  put(client: CdsClient): Promise<void>;
  /** The clinic's clients, by `iss`. */
  list(clinicId: string): Promise<(CdsClient & { createdAt: string })[]>;
  /** Removes the clinic's client of `iss`; false when the clinic has none under it. */
  remove(clinicId: string, iss: string): Promise<boolean>;
  /**
   * Records the `jti` of a token of `iss` as used until `expiresAt` (one statement, so two replicas given the same
   * token race on the primary key and one wins). False when the same `jti` of `iss` is already recorded and has not
   * expired at `now`: a replay.
   */
  claimJti(iss: string, jti: string, expiresAt: Date, now: Date): Promise<boolean>;
  /** Deletes the jtis expired at `now`; how many. */
  deleteExpiredJtis(now: Date): Promise<number>;
}

export function createCdsClientRepo({ kysely }: Db): CdsClientRepo {
  const parseJwks = (text: string | null) => (text === null ? null : JwksSchema.parse(JSON.parse(text)));
  return {
    async claimJti(iss, jti, expiresAt, now) {
      // An expired row of the same jti (not yet deleted) is taken over; a live one is left alone and nothing returns.
      const row = await kysely
        .insertInto('cds_jtis')
        .values({ iss, jti, expiresAt: expiresAt.toISOString() })
        .onConflict((oc) =>
          oc
            .columns(['iss', 'jti'])
            .doUpdateSet({ expiresAt: expiresAt.toISOString() })
            .where('cds_jtis.expiresAt', '<=', now.toISOString()),
        )
        .returning('jti')
        .executeTakeFirst();
      return row !== undefined;
    },
    async deleteExpiredJtis(now) {
      const r = await kysely.deleteFrom('cds_jtis').where('expiresAt', '<=', now.toISOString()).executeTakeFirst();
      return Number(r.numDeletedRows);
    },
    async list(clinicId) {
      const rows = await kysely
        .selectFrom('cds_clients')
        .select(['iss', 'clinicId', 'jwksUrl', 'jwks', 'createdAt'])
        .where('clinicId', '=', clinicId)
        .orderBy('iss')
        .limit(100)
        .execute();
      return rows.map((r) => ({ ...r, jwks: parseJwks(r.jwks) }));
    },
    async remove(clinicId, iss) {
      const result = await kysely
        .deleteFrom('cds_clients')
        .where('clinicId', '=', clinicId)
        .where('iss', '=', iss)
        .executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },
    async get(iss) {
      const row = await kysely
        .selectFrom('cds_clients')
        .select(['iss', 'clinicId', 'jwksUrl', 'jwks'])
        .where('iss', '=', iss)
        .executeTakeFirst();
      if (!row) return null;
      return { ...row, jwks: parseJwks(row.jwks) };
    },
    async put(client) {
      const c = parseInput(CdsClientSchema, client, 'CDS client');
      const values = {
        iss: c.iss,
        clinicId: c.clinicId,
        jwksUrl: c.jwksUrl,
        jwks: c.jwks === null ? null : JSON.stringify(c.jwks),
        createdAt: nowIso(),
      };
      await mapDbErrors('CDS client', () =>
        kysely
          .insertInto('cds_clients')
          .values(values)
          .onConflict((oc) =>
            oc.column('iss').doUpdateSet({ clinicId: values.clinicId, jwksUrl: values.jwksUrl, jwks: values.jwks }),
          )
          .execute(),
      );
    },
  };
}
