// The care-gap (crc-screening-2021) decisions through a peer EHR: every golden case (test/helpers/care-gap-golden.ts)
// and every scenario of the synthetic clinic (sandbox/synthetic, a second set built by another generator) is loaded
// into HAPI FHIR JPA 8.8.0 and into our sandbox, read through the worker's own read (fetchCareGapResources: the
// kind's searches, code tokens, `_include`, paging), extracted and evaluated. The decision must be the same, clause
// by clause with its evidence, through both servers, and through HAPI by one batch (probed) and by parallel searches.
import type { Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { fetchCareGapResources } from '../../activities/kinds/care-gap/patient-context.ts';
import { createFhirConnector, type BatchMode, type FhirConnector } from '../../connectors/fhir/connector.ts';
import { careGapFactsFromResources, careGapReads } from '../../facts/care-gap/index.ts';
import { CARE_GAP_BUILTINS, evaluateCareGap, type CareGapDecision } from '../../rules/kinds/care-gap/index.ts';
import { startSandbox, type SandboxHandle } from '../../sandbox/fhir-server.ts';
import { IndexedRepository, loadResources } from '../../sandbox/indexed-repository.ts';
import { CARE_GAP_SCENARIOS, generateClinic } from '../../sandbox/synthetic/index.ts';
import { careGapBundle } from '../helpers/care-gap-builders.ts';
import { CARE_GAP_GOLDEN, CARE_GAP_GOLDEN_AS_OF, type CareGapExpected } from '../helpers/care-gap-golden.ts';
import { loadIntoHapi, withIdPrefix, withoutDanglingReferences } from '../helpers/peer.ts';

const hapiBaseUrl = inject('hapiBaseUrl');
const protocol = CARE_GAP_BUILTINS.find((p) => p.id === 'crc-screening-2021')!;

interface Case {
  name: string;
  patientId: string;
  asOf: string;
  /** The golden case's full expectation, or the synthetic scenario's clause, disposition and reasons. */
  expected: CareGapExpected;
}

/** Each golden case under its own id prefix (`cg001-…`), its patient included (careGapBundle adds the default one). */
const golden = CARE_GAP_GOLDEN.map(([name, resources, expected], i) => {
  const prefix = `cg${String(i + 1).padStart(3, '0')}`;
  const held = withIdPrefix(
    (careGapBundle(...resources).entry ?? []).map((e) => e.resource!),
    prefix,
  );
  const patient = held.find((r) => r.resourceType === 'Patient')!;
  return {
    resources: held,
    case: { name: `${prefix} ${name}`, patientId: patient.id!, asOf: CARE_GAP_GOLDEN_AS_OF, expected },
  };
});

/** The synthetic clinic: every care-gap scenario once, beside a few refill patients, as one clinic's records. */
const SYNTHETIC_AS_OF = '2026-06-15';
const clinic = generateClinic({
  seed: 31,
  patients: 5,
  careGapPatients: CARE_GAP_SCENARIOS.length,
  asOf: SYNTHETIC_AS_OF,
});
const synthetic: Case[] = clinic.careGaps.map((s) => ({
  name: `${s.patientId} ${s.scenario}`,
  patientId: s.patientId,
  asOf: SYNTHETIC_AS_OF,
  expected: { clause: s.expectedClause, disposition: s.expectedDisposition, reasons: s.expectedReasons },
}));

const cases: Case[] = [...golden.map((g) => g.case), ...synthetic];
const allResources: Resource[] = [...golden.flatMap((g) => g.resources), ...clinic.resources];

let sandbox: SandboxHandle;
const hapi = (batch: BatchMode): FhirConnector =>
  createFhirConnector({ baseUrl: hapiBaseUrl, timeoutMs: 30_000, batch });
let viaSandbox: FhirConnector;
let viaHapiBatch: FhirConnector;
let viaHapiParallel: FhirConnector;
let loadMs = 0;
const trips = { sandbox: 0, batch: 0, parallel: 0 };

async function decide(fhir: FhirConnector, c: Case): Promise<{ decision: CareGapDecision; roundTrips: number }> {
  const { resources, roundTrips } = await fetchCareGapResources(fhir, { patientId: c.patientId });
  const decision = await evaluateCareGap(protocol, careGapFactsFromResources(resources, c.patientId, c.asOf));
  return { decision, roundTrips };
}

beforeAll(async () => {
  const repo = new IndexedRepository();
  loadResources(repo, allResources);
  sandbox = await startSandbox({ repo, requireAuth: false });
  viaSandbox = createFhirConnector({ baseUrl: sandbox.fhirBaseUrl, timeoutMs: 30_000 });
  viaHapiBatch = hapi('auto');
  viaHapiParallel = hapi('never');
  const started = Date.now();
  // A transaction per 200 resources: each loads as a whole or not at all; HAPI checks references at its end.
  const ordered = [...golden.flatMap((g) => g.resources), ...clinic.resources];
  for (let i = 0; i < ordered.length; i += 200) await loadIntoHapi(hapiBaseUrl, ordered.slice(i, i + 200));
  loadMs = Date.now() - started;
});

afterAll(async () => {
  await sandbox?.close();
  console.log(
    `[peer] care gap: ${golden.length} golden cases and ${synthetic.length} synthetic patients ` +
      `(${allResources.length} resources) loaded into HAPI in ${loadMs} ms; round trips per case ` +
      `(sandbox / HAPI batch / HAPI parallel): ${(trips.sandbox / cases.length).toFixed(2)} / ` +
      `${(trips.batch / cases.length).toFixed(2)} / ${(trips.parallel / cases.length).toFixed(2)}`,
  );
});

describe('HAPI FHIR answers the care-gap reads as the sandbox does', () => {
  test('no golden case nor synthetic record references a resource it lacks (HAPI would refuse it)', () => {
    expect(withoutDanglingReferences(allResources).dropped).toEqual([]);
  });

  test('every clause decides at least one case, and every synthetic scenario is here', () => {
    expect(new Set(cases.map((c) => c.expected.clause))).toEqual(new Set(protocol.clauses.map((c) => c.id)));
    expect(new Set(clinic.careGaps.map((s) => s.scenario)).size).toBe(CARE_GAP_SCENARIOS.length);
  });

  test.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const sandboxRun = await decide(viaSandbox, c);
    const batchRun = await decide(viaHapiBatch, c);
    const parallelRun = await decide(viaHapiParallel, c);
    trips.sandbox += sandboxRun.roundTrips;
    trips.batch += batchRun.roundTrips;
    trips.parallel += parallelRun.roundTrips;
    // The whole decision: disposition, clause, reasons with their evidence, every clause's outcome and evidence,
    // priority, route, next due date, actions.
    expect(batchRun.decision).toEqual(sandboxRun.decision);
    expect(parallelRun.decision).toEqual(sandboxRun.decision);
    expect(batchRun.roundTrips).toBeLessThanOrEqual(3); // the capability look-up and probe when first, one batch
    expect(parallelRun.roundTrips).toBeGreaterThanOrEqual(careGapReads(c.patientId).length);
    // And the case's own expectation, read through a real EHR rather than from the bundle.
    const d = sandboxRun.decision;
    const want = c.expected;
    expect({ disposition: d.disposition, clause: d.clause, reasons: d.reasons.map((r) => r.id) }).toEqual({
      disposition: want.disposition,
      clause: want.clause,
      reasons: want.reasons,
    });
    if (want.priority !== undefined) expect(d.priority).toBe(want.priority);
    if (want.routeTo !== undefined) expect(d.routeTo).toBe(want.routeTo);
    if (want.nextDueDate !== undefined) expect(d.nextDueDate).toBe(want.nextDueDate);
    if (want.actions !== undefined) expect(d.actions).toEqual(want.actions);
  });
});
