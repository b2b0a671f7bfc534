import { createHash } from 'node:crypto';
import { z } from 'zod';
import { insertAudit, type AuditInput } from './audit.ts';
import { jsonText, nowIso, parseInput, toJsonText } from './dialect.ts';
import type { Db } from './open.ts';

const CodeSchema = z.strictObject({
  system: z.string().min(1),
  code: z.string().min(1),
  display: z.string().min(1).optional(),
});
export type StoredCode = z.infer<typeof CodeSchema>;

const PutValueSetSchema = z.strictObject({
  clinicId: z.string().min(1),
  valueSetId: z.string().regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, 'use kebab-case'),
  source: z.string().min(1).max(2000),
  codes: z.array(CodeSchema).min(1),
  by: z.string().min(1),
});
export type PutValueSetInput = z.input<typeof PutValueSetSchema>;

/** A clinic's expansion in force for one value set (without its codes). */
export const ClinicValueSetSchema = z.object({
  clinicId: z.string(),
  valueSetId: z.string(),
  hash: z.string(),
  source: z.string(),
  codeCount: z.number().int(),
  updatedAt: z.string(),
  updatedBy: z.string(),
});
export type ClinicValueSet = z.output<typeof ClinicValueSetSchema>;

/** An expansion with its codes, as an evaluation uses it. */
export interface ValueSetExpansion {
  valueSetId: string;
  hash: string;
  source: string;
  codes: StoredCode[];
}

const CodesText = jsonText(z.array(CodeSchema));

/** The canonical order of a code list: by system, code, display (so the same codes hash the same however sent). */
function canonical(codes: readonly StoredCode[]): StoredCode[] {
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return codes
    .map((c) => ({ system: c.system, code: c.code, ...(c.display ? { display: c.display } : {}) }))
    .sort((a, b) => cmp(a.system, b.system) || cmp(a.code, b.code) || cmp(a.display ?? '', b.display ?? ''));
}

/** SHA-256 (hex) of the canonical code list: what an evaluation records as the expansion it used. */
export function expansionHash(codes: readonly StoredCode[]): string {
  return createHash('sha256')
    .update(JSON.stringify(canonical(codes)))
    .digest('hex');
}

export interface ValueSetRepo {
  /**
   * Stores an expansion (by content hash; loading the same codes again stores nothing new) and puts it in force for
   * the clinic's value set, with the audit entry `audit(record)` in the same transaction. `changed`: the hash in
   * force differs from before.
   */
  put(
    input: PutValueSetInput,
    audit?: (record: ClinicValueSet, changed: boolean) => AuditInput,
  ): Promise<{ record: ClinicValueSet; changed: boolean }>;
  /** The expansions in force for a clinic, by value set id. */
  list(clinicId: string): Promise<ClinicValueSet[]>;
  /** The expansion in force for one value set, with its codes (canonical order); null: the built-in set applies. */
  get(clinicId: string, valueSetId: string): Promise<(ClinicValueSet & { codes: StoredCode[] }) | null>;
  /**
   * Puts the built-in set back in force (the stored expansion stays, by hash), with the audit entry in the same
   * transaction. False: none was in force.
   */
  remove(clinicId: string, valueSetId: string, audit?: (record: ClinicValueSet) => AuditInput): Promise<boolean>;
  /** The expansions in force for some of a clinic's value sets, with their codes (one query; for an evaluation). */
  current(clinicId: string, valueSetIds: readonly string[]): Promise<ValueSetExpansion[]>;
}

/** Value-set expansions clinics loaded (FHIR ValueSet JSON, parsed by rules/value-set-expansion.ts). */
export function createValueSetRepo({ kysely }: Db): ValueSetRepo {
  return {
    async put(input, audit) {
      const v = parseInput(PutValueSetSchema, input, 'value set expansion');
      const codes = canonical(v.codes);
      const hash = expansionHash(codes);
      const at = nowIso();
      return kysely.transaction().execute(async (trx) => {
        await trx
          .insertInto('value_set_expansions')
          .values({
            clinicId: v.clinicId,
            valueSetId: v.valueSetId,
            hash,
            source: v.source,
            codeCount: codes.length,
            codes: toJsonText(codes),
            createdAt: at,
            createdBy: v.by,
          })
          .onConflict((oc) => oc.columns(['clinicId', 'valueSetId', 'hash']).doNothing())
          .execute();
        const before = await trx
          .selectFrom('clinic_value_sets')
          .select('hash')
          .where('clinicId', '=', v.clinicId)
          .where('valueSetId', '=', v.valueSetId)
          .executeTakeFirst();
        const values = {
          clinicId: v.clinicId,
          valueSetId: v.valueSetId,
          hash,
          source: v.source,
          codeCount: codes.length,
          updatedAt: at,
          updatedBy: v.by,
        };
        const row = await trx
          .insertInto('clinic_value_sets')
          .values(values)
          .onConflict((oc) => oc.columns(['clinicId', 'valueSetId']).doUpdateSet(values))
          .returningAll()
          .executeTakeFirstOrThrow();
        const record = ClinicValueSetSchema.parse(row);
        const changed = before?.hash !== hash;
        if (audit) await insertAudit(trx, audit(record, changed));
        return { record, changed };
      });
    },
    async list(clinicId) {
      const rows = await kysely
        .selectFrom('clinic_value_sets')
        .selectAll()
        .where('clinicId', '=', clinicId)
        .orderBy('valueSetId')
        .execute();
      return rows.map((r) => ClinicValueSetSchema.parse(r));
    },
    async get(clinicId, valueSetId) {
      const row = await kysely
        .selectFrom('clinic_value_sets as c')
        .innerJoin('value_set_expansions as e', (j) =>
          j
            .onRef('e.clinicId', '=', 'c.clinicId')
            .onRef('e.valueSetId', '=', 'c.valueSetId')
            .onRef('e.hash', '=', 'c.hash'),
        )
        .selectAll('c')
        .select('e.codes')
        .where('c.clinicId', '=', clinicId)
        .where('c.valueSetId', '=', valueSetId)
        .executeTakeFirst();
      if (!row) return null;
      const { codes, ...rest } = row;
      return { ...ClinicValueSetSchema.parse(rest), codes: CodesText.parse(codes) };
    },
    async remove(clinicId, valueSetId, audit) {
      return kysely.transaction().execute(async (trx) => {
        const row = await trx
          .deleteFrom('clinic_value_sets')
          .where('clinicId', '=', clinicId)
          .where('valueSetId', '=', valueSetId)
          .returningAll()
          .executeTakeFirst();
        if (!row) return false;
        if (audit) await insertAudit(trx, audit(ClinicValueSetSchema.parse(row)));
        return true;
      });
    },
    async current(clinicId, valueSetIds) {
      if (valueSetIds.length === 0) return [];
      const rows = await kysely
        .selectFrom('clinic_value_sets as c')
        .innerJoin('value_set_expansions as e', (j) =>
          j
            .onRef('e.clinicId', '=', 'c.clinicId')
            .onRef('e.valueSetId', '=', 'c.valueSetId')
            .onRef('e.hash', '=', 'c.hash'),
        )
        .select(['c.valueSetId', 'c.hash', 'c.source', 'e.codes'])
        .where('c.clinicId', '=', clinicId)
        .where('c.valueSetId', 'in', [...valueSetIds])
        .orderBy('c.valueSetId')
        .execute();
      return rows.map((r) => ({
        valueSetId: r.valueSetId,
        hash: r.hash,
        source: r.source,
        codes: CodesText.parse(r.codes),
      }));
    },
  };
}
