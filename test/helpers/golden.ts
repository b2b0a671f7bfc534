// The golden-case file format shared by the built-in protocols' tests: `test/fixtures/protocols/<id>.cases.json`.
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const Supply = z.union([
  z.strictObject({ renewalMonths: z.number() }),
  z.strictObject({ quantity: z.number(), refills: z.number() }),
]);

export const GoldenCaseSchema = z.strictObject({
  name: z.string(),
  clause: z.string(),
  scenario: z.looseObject({ drug: z.string() }),
  expected: z.strictObject({
    disposition: z.enum(['approve', 'needs_visit', 'nurse_review', 'doctor_review']),
    failedCriteria: z.array(z.string()),
    approvedSupply: Supply.nullable().optional(),
    bridgeSupply: Supply.nullable().optional(),
    routeTo: z.string().nullable().optional(),
    actions: z.array(z.string()).optional(),
  }),
});
export type GoldenCase = z.infer<typeof GoldenCaseSchema>;

/** Reads and validates `test/fixtures/protocols/<name>.cases.json`. */
export function loadGoldenCases(name: string): {
  protocol: string;
  version: number;
  about: string;
  cases: GoldenCase[];
} {
  return z
    .strictObject({
      protocol: z.string(),
      version: z.number(),
      about: z.string(),
      cases: z.array(GoldenCaseSchema).min(1),
    })
    .parse(JSON.parse(readFileSync(new URL(`../fixtures/protocols/${name}.cases.json`, import.meta.url), 'utf8')));
}
