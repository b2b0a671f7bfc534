import { z } from 'zod';
import { AppError } from '../../rules/index.ts';
import {
  DEFAULT_COSIGN_DAYS,
  SIGNING_DELEGATES,
  SIGNING_MODES,
  defaultSigningPolicy,
  type SigningPolicy,
} from '../../rules/lifecycle/index.ts';
import { RoleSchema } from '../../rules/schema/case.ts';
import { insertAudit } from './audit.ts';
import { jsonText, mapDbErrors, needsRowLock, nowIso, parseInput } from './dialect.ts';
import type { Db } from './open.ts';

/** The longest co-sign window a standing order may have. */
export const MAX_COSIGN_DAYS = 30;

const Authority = z.strictObject({
  /** A FHIR reference to the supervising physician or medical director (`Practitioner/<id>`), if the EHR has one. */
  reference: z
    .string()
    .regex(/^(Practitioner|PractitionerRole|Organization)\/[A-Za-z0-9.-]{1,64}$/, 'Practitioner/<id>')
    .nullable()
    .default(null),
  /** Who stands behind the delegation or the standing order, as a person reads it (a name and title: no patient data). */
  display: z.string().min(1).max(200),
});

/**
 * A signing policy as an admin sets it (rules/lifecycle `SigningPolicy` without the version the store keeps):
 * `delegates` only for `delegated` (at least one), an `authority` for `delegated` and `standing_order`, `cosignDays`
 * only matters for `standing_order`.
 */
export const SigningPolicyInputSchema = z
  .strictObject({
    mode: z.enum(SIGNING_MODES),
    delegates: z
      .array(RoleSchema.refine((r) => SIGNING_DELEGATES.includes(r), `one of ${SIGNING_DELEGATES.join(', ')}`))
      .max(SIGNING_DELEGATES.length)
      .default([]),
    cosignDays: z.number().int().min(1).max(MAX_COSIGN_DAYS).default(DEFAULT_COSIGN_DAYS),
    authority: Authority.nullable().default(null),
  })
  .superRefine((p, ctx) => {
    for (const issue of signingPolicyIssues(p)) ctx.addIssue({ code: 'custom', ...issue });
  });
export type SigningPolicyInput = z.input<typeof SigningPolicyInputSchema>;

/**
 * What makes a well-formed policy unusable, field by field: delegates named twice, a delegation without delegates,
 * delegates under another mode, a delegation or standing order without the physician who authorises it.
 */
export function signingPolicyIssues(p: {
  mode: string;
  delegates?: readonly string[];
  authority?: unknown;
}): { path: string[]; message: string }[] {
  const delegates = p.delegates ?? [];
  const issues: { path: string[]; message: string }[] = [];
  if (new Set(delegates).size !== delegates.length) issues.push({ path: ['delegates'], message: 'each role once' });
  if (p.mode === 'delegated' && delegates.length === 0) {
    issues.push({ path: ['delegates'], message: 'a delegated policy names at least one role' });
  }
  if (p.mode !== 'delegated' && delegates.length > 0) {
    issues.push({ path: ['delegates'], message: 'only a delegated policy names delegates' });
  }
  if (p.mode !== 'doctor' && (p.authority === null || p.authority === undefined)) {
    issues.push({
      path: ['authority'],
      message: 'a delegation or standing order needs the physician who authorises it',
    });
  }
  return issues;
}

const RowSchema = z.object({
  clinicId: z.string(),
  protocolId: z.string(),
  mode: z.enum(SIGNING_MODES),
  delegates: jsonText(z.array(RoleSchema)),
  cosignDays: z.number().int(),
  authorityReference: z.string().nullable(),
  authorityDisplay: z.string().nullable(),
  version: z.number().int(),
  updatedAt: z.string(),
  updatedBy: z.string(),
});

/** A stored policy: the rules' shape, with who changed it last and when. */
export interface StoredSigningPolicy extends SigningPolicy {
  clinicId: string;
  protocolId: string;
  updatedAt: string | null;
  updatedBy: string | null;
}

function fromRow(r: z.output<typeof RowSchema>): StoredSigningPolicy {
  return {
    clinicId: r.clinicId,
    protocolId: r.protocolId,
    mode: r.mode,
    delegates: r.delegates,
    cosignDays: r.cosignDays,
    authority: r.authorityDisplay === null ? null : { reference: r.authorityReference, display: r.authorityDisplay },
    version: r.version,
    updatedAt: r.updatedAt,
    updatedBy: r.updatedBy,
  };
}

/** Who changes a policy (for the audit row written in the same transaction). */
export interface PolicyChange {
  by: string;
  byRole: string;
  requestId: string | null;
  /** The version the admin last read: a policy changed since is refused (CONFLICT) rather than overwritten. */
  expectedVersion?: number;
}

export interface SigningPolicyRepo {
  /** The policy in force for a clinic's protocol: the stored one, else the `doctor` default (version 0). */
  get(clinicId: string, protocolId: string): Promise<StoredSigningPolicy>;
  /** Every protocol of the clinic that has a stored policy, by protocol id. */
  list(clinicId: string): Promise<StoredSigningPolicy[]>;
  /**
   * Sets a clinic's policy for a protocol (version + 1) and writes its audit row, in one transaction.
   *
   * @throws AppError `INVALID_INPUT` (with JSON paths) for a policy that does not hold together; `CONFLICT` when
   * `expectedVersion` is not the stored version.
   */
  put(
    clinicId: string,
    protocolId: string,
    input: SigningPolicyInput,
    change: PolicyChange,
  ): Promise<StoredSigningPolicy>;
}

export function createSigningPolicyRepo({ kysely, dialect }: Db): SigningPolicyRepo {
  const defaults = (clinicId: string, protocolId: string): StoredSigningPolicy => ({
    ...defaultSigningPolicy(protocolId),
    clinicId,
    protocolId,
    updatedAt: null,
    updatedBy: null,
  });
  return {
    async get(clinicId, protocolId) {
      const row = await kysely
        .selectFrom('signing_policies')
        .selectAll()
        .where('clinicId', '=', clinicId)
        .where('protocolId', '=', protocolId)
        .executeTakeFirst();
      return row ? fromRow(RowSchema.parse(row)) : defaults(clinicId, protocolId);
    },
    async list(clinicId) {
      const rows = await kysely
        .selectFrom('signing_policies')
        .selectAll()
        .where('clinicId', '=', clinicId)
        .orderBy('protocolId')
        .limit(1000)
        .execute();
      return rows.map((r) => fromRow(RowSchema.parse(r)));
    },
    async put(clinicId, protocolId, input, change) {
      const p = parseInput(SigningPolicyInputSchema, input, 'signing policy');
      return mapDbErrors('Signing policy', () =>
        kysely.transaction().execute(async (trx) => {
          const current = await trx
            .selectFrom('signing_policies')
            .select('version')
            .where('clinicId', '=', clinicId)
            .where('protocolId', '=', protocolId)
            .$if(needsRowLock(dialect), (q) => q.forUpdate())
            .executeTakeFirst();
          const stored = current?.version ?? 0;
          if (change.expectedVersion !== undefined && change.expectedVersion !== stored) {
            throw new AppError(
              'CONFLICT',
              `The signing policy is at version ${stored}, not ${change.expectedVersion}: read it again`,
            );
          }
          const values = {
            clinicId,
            protocolId,
            mode: p.mode,
            delegates: JSON.stringify(p.delegates),
            cosignDays: p.cosignDays,
            authorityReference: p.authority?.reference ?? null,
            authorityDisplay: p.authority?.display ?? null,
            version: stored + 1,
            updatedAt: nowIso(),
            updatedBy: change.by,
          };
          await trx
            .insertInto('signing_policies')
            .values(values)
            .onConflict((oc) => oc.columns(['clinicId', 'protocolId']).doUpdateSet(values))
            .execute();
          await insertAudit(trx, {
            actorType: 'user',
            actorId: change.by,
            actorRole: change.byRole,
            action: 'signing_policy.updated',
            clinicId,
            protocolId,
            requestId: change.requestId,
            detail: {
              mode: p.mode,
              delegates: p.delegates,
              cosignDays: p.cosignDays,
              authority: p.authority ? { reference: p.authority.reference, display: p.authority.display } : null,
              version: values.version,
              previousVersion: stored,
            },
          });
          return fromRow(RowSchema.parse(values));
        }),
      );
    },
  };
}
