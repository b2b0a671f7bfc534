// The refill golden cases through a peer EHR: every case of both built-in protocols is loaded into HAPI FHIR JPA
// 8.8.0 and into our sandbox, read back through the FHIR connector (fetchPatientRecord, the worker's own read),
// extracted and evaluated. The decision must be the same, criterion by criterion with its evidence, through both
// servers, and through HAPI by both paths: one batch Bundle (found by probing: HAPI does not advertise it) and the
// parallel searches of an EHR without batch.
import type { Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { fetchPatientRecord } from '../../activities/kinds/refill/patient-context.ts';
import { createFhirConnector, type BatchMode, type FhirConnector } from '../../connectors/fhir/connector.ts';
import { extractRefillFacts } from '../../facts/refill/index.ts';
import { evaluateProtocol } from '../../rules/kinds/refill/evaluate.ts';
import type { ProtocolDefinition } from '../../rules/kinds/refill/protocol.ts';
import { findBuiltinProtocol } from '../../rules/kinds/refill/protocols/index.ts';
import type { TriageDecision } from '../../rules/kinds/refill/decision.ts';
import { startSandbox, type SandboxHandle } from '../../sandbox/fhir-server.ts';
import { IndexedRepository, loadResources } from '../../sandbox/indexed-repository.ts';
import { aRefillBundle, type ScenarioSpec } from '../helpers/fhir-builders.ts';
import { loadGoldenCases, type GoldenCase } from '../helpers/golden.ts';
import { loadIntoHapi, withIdPrefix, withoutDanglingReferences } from '../helpers/peer.ts';

const hapiBaseUrl = inject('hapiBaseUrl');
const DEFAULT_AS_OF = '2026-06-15';

interface Loaded {
  protocol: ProtocolDefinition;
  golden: GoldenCase;
  /** The refill request's id in both EHRs. */
  requestId: string;
  asOf: string;
  /** References the scenario makes to resources it does not hold (HAPI refuses them: see resourcesOf). */
  dangling: string[];
}

const cases: Loaded[] = [];
for (const file of ['family-medicine-2015', 'standard-chronic-care']) {
  const { protocol, version, cases: golden } = loadGoldenCases(file);
  const definition = findBuiltinProtocol(protocol, version) as ProtocolDefinition;
  golden.forEach((g, i) => {
    const prefix = `${file === 'family-medicine-2015' ? 'fm' : 'sc'}${String(i + 1).padStart(3, '0')}`;
    const asOf = (g.scenario as unknown as ScenarioSpec).asOf ?? DEFAULT_AS_OF;
    const c: Loaded = { protocol: definition, golden: g, requestId: `${prefix}-refill-req`, asOf, dangling: [] };
    c.dangling = withoutDanglingReferences(scenarioResources(c, prefix)).dropped;
    cases.push(c);
  });
}

function scenarioResources(c: Loaded, prefix: string): Resource[] {
  const bundle = aRefillBundle(c.golden.scenario as unknown as ScenarioSpec);
  return withIdPrefix(
    (bundle.entry ?? []).map((e) => e.resource!),
    prefix,
  );
}

/**
 * What both EHRs hold for a case. A scenario whose request names a pharmacy the EHR does not have (G-3, GEN-3) holds
 * a dangling reference, which HAPI refuses (HAPI-1094); both EHRs get it as a strict EHR holds it, the requester by
 * display only, and the sandbox also keeps the original (`<prefix>x-…`) to show the decision does not move.
 */
function resourcesOf(c: Loaded): Resource[] {
  return withoutDanglingReferences(scenarioResources(c, c.requestId.replace(/-refill-req$/, ''))).resources;
}

let sandbox: SandboxHandle;
const hapi = (batch: BatchMode): FhirConnector =>
  createFhirConnector({ baseUrl: hapiBaseUrl, timeoutMs: 30_000, batch });
let viaSandbox: FhirConnector;
let viaHapiBatch: FhirConnector;
let viaHapiParallel: FhirConnector;
let loadMs = 0;
const trips = { sandbox: 0, batch: 0, parallel: 0 };

async function decide(fhir: FhirConnector, c: Loaded): Promise<{ decision: TriageDecision; roundTrips: number }> {
  const { record, roundTrips } = await fetchPatientRecord(fhir, { medicationRequestId: c.requestId, asOf: c.asOf });
  return { decision: await evaluateProtocol(c.protocol, extractRefillFacts(record, { asOf: c.asOf })), roundTrips };
}

beforeAll(async () => {
  const all = cases.map(resourcesOf);
  const repo = new IndexedRepository();
  loadResources(repo, all.flat());
  for (const c of cases.filter((x) => x.dangling.length > 0)) {
    loadResources(repo, scenarioResources(c, `${c.requestId.replace(/-refill-req$/, '')}x`));
  }
  sandbox = await startSandbox({ repo, requireAuth: false });
  viaSandbox = createFhirConnector({ baseUrl: sandbox.fhirBaseUrl, timeoutMs: 30_000 });
  viaHapiBatch = hapi('auto');
  viaHapiParallel = hapi('never');
  const started = Date.now();
  // One transaction per 25 cases: each loads as a whole or not at all.
  for (let i = 0; i < all.length; i += 25) await loadIntoHapi(hapiBaseUrl, all.slice(i, i + 25).flat());
  loadMs = Date.now() - started;
});

afterAll(async () => {
  await sandbox?.close();
  console.log(
    `[peer] ${cases.length} golden cases: loaded into HAPI in ${loadMs} ms; round trips per case ` +
      `(sandbox / HAPI batch / HAPI parallel): ${(trips.sandbox / cases.length).toFixed(2)} / ` +
      `${(trips.batch / cases.length).toFixed(2)} / ${(trips.parallel / cases.length).toFixed(2)}`,
  );
});

describe('HAPI FHIR answers our reads as the sandbox does', () => {
  test('only the unknown-pharmacy scenarios hold a reference to a resource they lack', () => {
    expect(cases.filter((c) => c.dangling.length > 0).map((c) => [c.golden.clause, c.dangling.length])).toEqual([
      ['G-3', 1],
      ['GEN-3', 1],
    ]);
  });

  test('HAPI does not advertise batch; the connector probes it, finds it, and honours `never`', async () => {
    const auto = await viaHapiBatch.capabilities();
    expect(auto.statement.software?.name).toMatch(/HAPI FHIR/);
    const system = (auto.statement.rest?.[0]?.interaction ?? []).map((i) => i.code);
    expect(system).not.toContain('batch');
    expect(auto).toMatchObject({ batch: true, batchFrom: 'probed' });
    expect(await viaHapiParallel.capabilities()).toMatchObject({ batch: false, batchFrom: 'configured' });
    expect(await viaSandbox.capabilities()).toMatchObject({ batch: true, batchFrom: 'advertised' });
  });

  test.each(cases.map((c) => [`${c.requestId} [${c.golden.clause}] ${c.golden.name}`, c] as const))(
    '%s',
    async (_name, c) => {
      const sandboxRun = await decide(viaSandbox, c);
      const batchRun = await decide(viaHapiBatch, c);
      const parallelRun = await decide(viaHapiParallel, c);
      trips.sandbox += sandboxRun.roundTrips;
      trips.batch += batchRun.roundTrips;
      trips.parallel += parallelRun.roundTrips;
      // The whole decision: disposition, every criterion with its explanation and evidence, supplies, route, actions.
      expect(batchRun.decision).toEqual(sandboxRun.decision);
      expect(parallelRun.decision).toEqual(sandboxRun.decision);
      expect(batchRun.roundTrips).toBeLessThanOrEqual(3);
      expect(parallelRun.roundTrips).toBeGreaterThan(batchRun.roundTrips);
      if (c.dangling.length > 0) {
        const original = await decide(viaSandbox, {
          ...c,
          requestId: c.requestId.replace(/-refill-req$/, 'x-refill-req'),
        });
        expect(JSON.stringify(original.decision).replaceAll(/(fm|sc)(\d{3})x-/g, '$1$2-')).toEqual(
          JSON.stringify(sandboxRun.decision),
        );
      }
      // And the golden case's own expectation, read through a real EHR rather than from the bundle.
      expect({
        disposition: sandboxRun.decision.disposition,
        failedCriteria: sandboxRun.decision.failedCriteria,
      }).toEqual({ disposition: c.golden.expected.disposition, failedCriteria: c.golden.expected.failedCriteria });
    },
  );
});
