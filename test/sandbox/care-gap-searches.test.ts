// The sandbox EHR answers the FHIR searches the care-gap kind runs: a patient's record by type, and the attributed
// panel (finished Encounters since a date) page by page.
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { createSandboxApp, SandboxState } from '../../sandbox/fhir-server.ts';
import { IndexedRepository, loadResources } from '../../sandbox/indexed-repository.ts';
import { generateClinic } from '../../sandbox/synthetic/index.ts';

const BASE = 'http://sandbox.test/fhir/R4';
const AS_OF = '2026-06-15';
const clinic = generateClinic({ seed: 11, patients: 20, careGapPatients: 80, asOf: AS_OF });
const repo = new IndexedRepository();
loadResources(repo, clinic.resources);
const app = createSandboxApp({ state: new SandboxState({ repo }), requireAuth: false });

async function search(url: string): Promise<Bundle> {
  const res = await app.request(url.startsWith('http') ? url : `${BASE}${url}`);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as Bundle;
}

const patientOf = (r: Resource): string | undefined => {
  if (r.resourceType === 'Appointment') {
    return r.participant?.find((p) => p.actor?.reference?.startsWith('Patient/'))?.actor?.reference;
  }
  return 'subject' in r ? (r.subject as { reference?: string } | undefined)?.reference : undefined;
};

const TYPES = [
  'Condition',
  'Procedure',
  'Observation',
  'DiagnosticReport',
  'ServiceRequest',
  'Encounter',
  'Appointment',
  'MedicationRequest',
] as const;

describe('care-gap reads against the sandbox', () => {
  test.each(TYPES)('%s?patient={id} returns exactly that patient’s resources of the type', async (type) => {
    const patients = clinic.careGaps.map((s) => s.patientId);
    const holders = patients.filter((id) =>
      clinic.resources.some((r) => r.resourceType === type && patientOf(r) === `Patient/${id}`),
    );
    expect(holders.length, `no care-gap patient has a ${type}`).toBeGreaterThan(0);
    for (const id of [...holders.slice(0, 6), patients[0] ?? '']) {
      const bundle = await search(`/${type}?patient=${id}&_count=200`);
      const expected = clinic.resources
        .filter((r) => r.resourceType === type && patientOf(r) === `Patient/${id}`)
        .map((r) => r.id)
        .sort();
      expect(bundle.entry?.map((e) => e.resource?.id).sort() ?? [], `${type} of ${id}`).toEqual(expected);
    }
  });

  test('Encounter?status=finished&date=ge{asOf − 24 months} pages through exactly the attributed panel', async () => {
    const since = '2024-06-15';
    const expected = new Set(
      clinic.resources.flatMap((r) =>
        r.resourceType === 'Encounter' && r.status === 'finished' && (r.period?.start ?? '') >= since
          ? [r.subject?.reference ?? '']
          : [],
      ),
    );
    const seen = new Set<string>();
    let encounters = 0;
    let pages = 0;
    let next: string | undefined = `/Encounter?status=finished&date=ge${since}&_count=25`;
    while (next !== undefined && pages < 1000) {
      const page = await search(next);
      pages++;
      for (const e of page.entry ?? []) {
        const enc = e.resource;
        if (enc?.resourceType !== 'Encounter') continue;
        expect(enc.status).toBe('finished');
        expect((enc.period?.start ?? '') >= since).toBe(true);
        encounters++;
        seen.add(enc.subject?.reference ?? '');
      }
      next = page.link?.find((l) => l.relation === 'next')?.url;
    }
    expect(pages).toBeGreaterThan(2);
    expect(encounters).toBe(
      clinic.resources.filter(
        (r) => r.resourceType === 'Encounter' && r.status === 'finished' && (r.period?.start ?? '') >= since,
      ).length,
    );
    expect(seen).toEqual(expected);
    const inPanel = clinic.careGaps.filter((s) => s.inPanel).map((s) => `Patient/${s.patientId}`);
    const lapsed = clinic.careGaps.filter((s) => !s.inPanel).map((s) => `Patient/${s.patientId}`);
    expect(inPanel.every((p) => seen.has(p))).toBe(true);
    expect(lapsed.length).toBeGreaterThan(0);
    expect(lapsed.some((p) => seen.has(p))).toBe(false);
  });
});
