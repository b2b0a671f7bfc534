// The sandbox's indexed search must answer exactly what Medplum's reference matcher answers (MemoryRepository scans
// every resource with `matchesSearchRequest`): same data set, same searches, same ids, same order.
import { parseSearchRequest } from '@medplum/core';
import type { Observation, Patient } from '@medplum/fhirtypes';
import { MemoryRepository } from '@medplum/fhir-router';
import { beforeAll, describe, expect, test } from 'vitest';
import { IndexedRepository, loadResources } from '../../sandbox/indexed-repository.ts';
import { A1C, buildFixtureClinic, LDL, LOINC, MRN_SYSTEM, RXNORM, SNOMED } from './fixture-clinic.ts';

const PATIENTS = 60;
const clinic = buildFixtureClinic(PATIENTS, 11);
const [p0 = '', p1 = '', p2 = '', p3 = '', p4 = '', p5 = '', p6 = '', p7 = ''] = clinic.patientIds;
const byId = new Map(clinic.resources.map((r) => [r.id, r]));
// Values taken from the data, so that date rows match some resources and not others.
const birthYear = (byId.get(p0) as Patient).birthDate?.slice(0, 4) ?? '';
const obsDay = new Date((byId.get(`${p2}-obs-0`) as Observation).effectiveDateTime ?? '').toISOString().slice(0, 10);
const midUpdate = byId.get(`${p5}-obs-3`)?.meta?.lastUpdated ?? '';

interface Row {
  type: string;
  query: string;
  /** The equivalent query for Medplum when its semantics differ in form (multi-key _sort applies keys in reverse). */
  medplumQuery?: string;
  /** A row whose right answer is "nothing". */
  empty?: boolean;
}

// Every supported parameter kind: reference, token, date (every prefix), string, uri, _id, _lastUpdated, :missing,
// :not, comma OR, repeated AND, _sort single and multiple keys.
const ROWS: Row[] = [
  // reference
  { type: 'MedicationRequest', query: `patient=Patient/${p1}` },
  { type: 'MedicationRequest', query: `subject=Patient/${p2}` },
  { type: 'MedicationRequest', query: 'medication=Medication/med-2' },
  { type: 'MedicationRequest', query: 'requester=Practitioner/prac-1' },
  { type: 'MedicationRequest', query: `encounter=Encounter/${p3}-enc-1` },
  { type: 'Observation', query: `patient=Patient/${p1},Patient/${p2}` },
  { type: 'Observation', query: `subject=Patient/${p4}&encounter=Encounter/${p4}-enc-0` },
  { type: 'Encounter', query: 'practitioner=Practitioner/prac-2' },
  { type: 'Patient', query: 'general-practitioner=Practitioner/prac-3' },
  { type: 'Appointment', query: `actor=Patient/${p5}` },
  { type: 'AllergyIntolerance', query: `patient=Patient/${p1}` },
  // token
  { type: 'Observation', query: `code=${A1C}` },
  { type: 'Observation', query: `code=${LOINC}|${LDL}` },
  { type: 'Observation', query: `patient=Patient/${p3}&code=${LOINC}|${A1C},${LOINC}|${LDL}` },
  { type: 'Observation', query: 'category=vital-signs&status=final' },
  { type: 'Observation', query: `patient=Patient/${p6}&status:not=final` },
  { type: 'Condition', query: 'clinical-status=active' },
  { type: 'Condition', query: `code=${SNOMED}|44054006&clinical-status=active` },
  {
    type: 'AllergyIntolerance',
    query: 'clinical-status=http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical|active',
  },
  { type: 'MedicationRequest', query: 'intent=proposal&status=draft' },
  { type: 'MedicationRequest', query: `code=${RXNORM}|860975` },
  { type: 'Medication', query: `code=${RXNORM}|314076` },
  { type: 'Patient', query: `identifier=${MRN_SYSTEM}|MRN000007` },
  { type: 'Patient', query: `identifier=${MRN_SYSTEM}|` },
  { type: 'Patient', query: 'identifier=|LEGACY3' },
  { type: 'Patient', query: 'gender=female&active=true' },
  { type: 'Patient', query: `_id=${p0},${p7}` },
  { type: 'Encounter', query: 'class=VR' },
  { type: 'Encounter', query: 'status=planned', empty: false },
  { type: 'Encounter', query: 'status=entered-in-error', empty: true },
  // date, every prefix; values with time zones, periods without an end, day/year precision
  { type: 'Patient', query: 'birthdate=lt1950' },
  { type: 'Patient', query: 'birthdate=ge1990-01-01' },
  { type: 'Patient', query: 'birthdate=gt1985&birthdate=le1995-06-30' },
  { type: 'Patient', query: `birthdate=${birthYear}` },
  { type: 'Patient', query: `birthdate=ne${birthYear}&gender=female` },
  { type: 'Patient', query: 'birthdate:missing=true' },
  { type: 'Encounter', query: 'date=sa2024-12-01' },
  { type: 'Encounter', query: 'date=eb2023-01-01' },
  { type: 'Encounter', query: 'date=ap2024-06-15' },
  { type: 'Observation', query: `patient=Patient/${p2}&date=ge2024-06-01T00:00:00Z` },
  { type: 'Observation', query: `date=eq${obsDay}` },
  { type: 'Appointment', query: `patient=Patient/${p4}&date=ge2025-01-01` },
  { type: 'MedicationRequest', query: 'authoredon=le2023-09-01' },
  { type: 'Condition', query: 'onset-date=lt2020-01-01' },
  { type: 'Observation', query: `_lastUpdated=gt${midUpdate}&patient=Patient/${p5}` },
  // string
  { type: 'Patient', query: 'name=Smith' },
  { type: 'Patient', query: 'family=Nguy' },
  { type: 'Patient', query: 'given=ana' },
  { type: 'Patient', query: 'address-city=Springfield' },
  { type: 'Patient', query: 'address-city=shelby,QUÉ' },
  // uri
  { type: 'Patient', query: 'gender=male&_profile=http://example.org/none', empty: true },
  // _sort, one key and several
  { type: 'Encounter', query: `patient=Patient/${p1}&_sort=-date` },
  { type: 'Encounter', query: `patient=Patient/${p2}&_sort=date` },
  { type: 'Observation', query: `patient=Patient/${p3}&_sort=-date` },
  { type: 'MedicationRequest', query: 'status=active&_sort=authoredon' },
  { type: 'Patient', query: 'birthdate:missing=false&_sort=-birthdate' },
  { type: 'Patient', query: 'active=true&_sort=gender' },
  {
    type: 'Encounter',
    query: `patient=Patient/${p6}&_sort=status,-date`,
    // Medplum's MemoryRepository applies sort keys one after another, so its last key is the primary one.
    medplumQuery: `patient=Patient/${p6}&_sort=-date,status`,
  },
];

describe('indexed search agrees with Medplum MemoryRepository', () => {
  const ours = new IndexedRepository();
  const medplum = new MemoryRepository();

  beforeAll(async () => {
    loadResources(ours, clinic.resources);
    for (const resource of clinic.resources) await medplum.createResource(structuredClone(resource));
  });

  test('the table covers enough searches', () => {
    expect(ROWS.length).toBeGreaterThanOrEqual(30);
    expect(clinic.patientIds.length).toBeGreaterThanOrEqual(50);
  });

  test.each(ROWS)('$type?$query', async ({ type, query, medplumQuery, empty }) => {
    const expected = await medplum.search(parseSearchRequest(`${type}?${medplumQuery ?? query}`));
    const expectedIds = (expected.entry ?? []).map((e) => e.resource?.id);
    const actual = ours.search(type, `${query}&_count=1000`);
    const actualIds = (actual.entry ?? []).map((e) => e.resource?.id);

    expect(actualIds).toEqual(expectedIds); // same ids in the same order (insertion order when unsorted)
    expect(actual.total).toBe(expectedIds.length);
    // A row that matches nothing, or everything, would not tell the two apart.
    if (empty) {
      expect(expectedIds).toHaveLength(0);
    } else {
      expect(expectedIds.length).toBeGreaterThan(0);
      expect(expectedIds.length).toBeLessThan(ours.counts()[type] ?? 0);
    }
  });
});
