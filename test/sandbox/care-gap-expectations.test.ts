// Every care-gap scenario of the synthetic clinic gets its expected clause through the real code: the care-gap kind's
// extraction (facts/care-gap) and evaluator (rules/kinds/care-gap, the built-in crc-screening-2021), first on the
// patient's generated record, then on what the sandbox EHR answers to the kind's own FHIR reads (careGapReads).
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { careGapFactsFromResources, careGapReads } from '../../facts/care-gap/index.ts';
import { CARE_GAP_BUILTINS, evaluateCareGap } from '../../rules/kinds/care-gap/index.ts';
import { createSandboxApp, SandboxState } from '../../sandbox/fhir-server.ts';
import { IndexedRepository, loadResources } from '../../sandbox/indexed-repository.ts';
import { CARE_GAP_SCENARIOS, generateClinic, type CareGapScenario } from '../../sandbox/synthetic/index.ts';

const protocol = CARE_GAP_BUILTINS.find((p) => p.id === 'crc-screening-2021');
if (!protocol) throw new Error('the built-in crc-screening-2021 is missing');

/** The patient's compartment as the generator writes it (subject, or an Appointment participant). */
function recordOf(resources: readonly Resource[], patientId: string): Resource[] {
  const ref = `Patient/${patientId}`;
  return resources.filter((r) =>
    r.resourceType === 'Patient'
      ? r.id === patientId
      : r.resourceType === 'Appointment'
        ? (r.participant ?? []).some((p) => p.actor?.reference === ref)
        : (r as { subject?: { reference?: string } }).subject?.reference === ref,
  );
}

const outcome = (d: Awaited<ReturnType<typeof evaluateCareGap>>) => ({
  clause: d.clause,
  disposition: d.disposition,
  reasons: d.reasons.map((r) => r.id),
});
const expected = (s: CareGapScenario) => ({
  clause: s.expectedClause,
  disposition: s.expectedDisposition,
  reasons: s.expectedReasons,
});

describe('care-gap scenarios decide by their expected clause (real extraction and evaluator)', () => {
  test.each([
    [2015, '2026-06-15'],
    [7, '2027-02-28'],
    [99, '2028-02-29'],
    [4242, '2026-12-31'],
  ])('seed %i, asOf %s: every scenario', async (seed, asOf) => {
    const clinic = generateClinic({ seed, patients: 1, careGapPatients: 2 * CARE_GAP_SCENARIOS.length, asOf });
    expect(new Set(clinic.careGaps.map((s) => s.scenario)).size).toBe(CARE_GAP_SCENARIOS.length);
    const mismatches: string[] = [];
    for (const s of clinic.careGaps) {
      const facts = careGapFactsFromResources(recordOf(clinic.resources, s.patientId), s.patientId, asOf);
      const got = outcome(await evaluateCareGap(protocol, facts));
      if (JSON.stringify(got) !== JSON.stringify(expected(s))) {
        mismatches.push(
          `${s.scenario} (${s.patientId}): expected ${JSON.stringify(expected(s))}, got ${JSON.stringify(got)}`,
        );
      }
    }
    expect(mismatches).toEqual([]);
  });

  test('through the sandbox EHR: the kind’s FHIR reads (searches, code tokens, _include, paging) yield the same clauses', async () => {
    const asOf = '2026-06-15';
    const clinic = generateClinic({ seed: 31, patients: 10, careGapPatients: CARE_GAP_SCENARIOS.length, asOf });
    const repo = new IndexedRepository();
    loadResources(repo, clinic.resources);
    const app = createSandboxApp({ state: new SandboxState({ repo }), requireAuth: false });
    const base = 'http://sandbox.test/fhir/R4';
    const mismatches: string[] = [];
    for (const s of clinic.careGaps) {
      const read: Resource[] = [];
      for (const { resourceType, params } of careGapReads(s.patientId)) {
        let url: string | undefined = `${base}/${resourceType}?${new URLSearchParams({ ...params, _count: '7' })}`;
        for (let page = 0; url !== undefined && page < 50; page++) {
          const res = await app.request(url);
          expect(res.status, url).toBe(200);
          const bundle = (await res.json()) as Bundle;
          read.push(...(bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : [])));
          url = bundle.link?.find((l) => l.relation === 'next')?.url;
        }
      }
      const got = outcome(await evaluateCareGap(protocol, careGapFactsFromResources(read, s.patientId, asOf)));
      if (JSON.stringify(got) !== JSON.stringify(expected(s))) {
        mismatches.push(`${s.scenario}: expected ${JSON.stringify(expected(s))}, got ${JSON.stringify(got)}`);
      }
    }
    expect(mismatches).toEqual([]);
  });
});
