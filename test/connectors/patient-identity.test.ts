// The patient-identity reader's memory: bounded, per clinic, short-lived, and never a reason to fail a view. The EHR
// here is a recording fetcher (the searches it was asked, answered from a per-clinic table) so that each bound can
// be counted exactly; test/api/patient-identity.test.ts drives the same reader against the sandbox EHR over HTTP.
import type { Patient } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import {
  ageOn,
  createPatientIdentityReader,
  identityOf,
  type PatientFetcher,
} from '../../connectors/fhir/patient-identity.ts';

const MR_TYPE = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] };

function patient(id: string, family: string): Patient {
  return {
    resourceType: 'Patient',
    id,
    identifier: [{ type: MR_TYPE, system: 'urn:mrn', value: `MRN-${family}` }],
    name: [{ use: 'official', family, given: ['Ann'] }],
    gender: 'female',
    birthDate: '1961-03-12',
  };
}

/** A fetcher over `ehrs[clinicId]`, recording each search's ids; `gate` (when set) holds every search until released. */
function recordingEhr(ehrs: Record<string, Patient[]>) {
  const searches: { clinicId: string; ids: string[]; requestId: string }[] = [];
  let gate: Promise<void> | undefined;
  let failWith: Error | undefined;
  const fetch: PatientFetcher = async (clinicId, ids, requestId) => {
    searches.push({ clinicId, ids: [...ids], requestId });
    if (gate) await gate;
    if (failWith) throw failWith;
    return (ehrs[clinicId] ?? []).filter((p) => ids.includes(p.id ?? ''));
  };
  return {
    fetch,
    searches,
    hold() {
      let release!: () => void;
      gate = new Promise<void>((r) => (release = r));
      return () => {
        gate = undefined;
        release();
      };
    },
    fail(err: Error | undefined) {
      failWith = err;
    },
  };
}

describe('identityOf', () => {
  test('takes the official name, the birth date, gender as sex, and the identifier typed MR — nothing else', () => {
    const p: Patient = {
      resourceType: 'Patient',
      id: 'p1',
      identifier: [
        { system: 'http://hl7.org/fhir/sid/us-ssn', value: '123-45-6789' },
        { type: MR_TYPE, use: 'old', value: 'OLD-1' },
        { type: MR_TYPE, system: 'urn:mrn', value: 'MRN-7' },
      ],
      name: [
        { use: 'old', family: 'Maiden', given: ['Ann'] },
        { use: 'usual', given: ['Annie'], family: 'Lee' },
        { use: 'official', given: ['Ann', 'Marie'], family: 'Lee' },
      ],
      gender: 'female',
      birthDate: '1961-03-12',
      telecom: [{ system: 'phone', value: '555-0100' }],
    };
    expect(identityOf(p)).toEqual({ name: 'Ann Marie Lee', birthDate: '1961-03-12', sex: 'female', mrn: 'MRN-7' });
    // No MR-typed identifier: no MRN, never the SSN in its place.
    expect(identityOf({ resourceType: 'Patient', identifier: [p.identifier![0]!] }).mrn).toBeNull();
    expect(identityOf({ resourceType: 'Patient' })).toEqual({ name: null, birthDate: null, sex: null, mrn: null });
    expect(identityOf({ resourceType: 'Patient', name: [{ text: ' Dr. A. Lee ' }] }).name).toBe('Dr. A. Lee');
  });

  test('age in whole years, birthday counted on the day; none for a partial or future birth date', () => {
    expect(ageOn('1961-03-12', '2026-03-11')).toBe(64);
    expect(ageOn('1961-03-12', '2026-03-12')).toBe(65);
    expect(ageOn('2026-01-01', '2026-12-06')).toBe(0);
    expect(ageOn('1961', '2026-12-06')).toBeNull();
    expect(ageOn('1961-03', '2026-12-06')).toBeNull();
    expect(ageOn('2027-01-01', '2026-12-06')).toBeNull();
    expect(ageOn(null, '2026-12-06')).toBeNull();
  });
});

describe('createPatientIdentityReader', () => {
  test('one search per batch of ids; a second read inside the TTL asks the EHR nothing; after it, it asks again', async () => {
    // lru-cache reads a start time of 0 as "no start": the clock starts later, as performance.now does in a process.
    let now = 1_000_000;
    const ehr = recordingEhr({ a: [patient('p1', 'Lee'), patient('p2', 'Kim')] });
    const reader = createPatientIdentityReader({ fetch: ehr.fetch, ttlMs: 60_000, clock: () => now });

    const first = await reader.read('a', ['p1', 'p2', 'p1', 'p3'], 'req-1');
    expect(ehr.searches).toEqual([{ clinicId: 'a', ids: ['p1', 'p2', 'p3'], requestId: 'req-1' }]);
    expect(first.get('p1')).toMatchObject({ ok: true, identity: { name: 'Ann Lee', mrn: 'MRN-Lee' } });
    expect(first.get('p3')).toEqual({ ok: false, reason: 'not_found' });

    now = 1_059_000;
    const cached = await reader.read('a', ['p1', 'p2'], 'req-2');
    expect(ehr.searches).toHaveLength(1);
    expect(cached.get('p2')).toMatchObject({ ok: true, identity: { name: 'Ann Kim' } });

    // A patient the EHR did not have is asked again (only what was found is cached).
    await reader.read('a', ['p3'], 'req-3');
    expect(ehr.searches.at(-1)?.ids).toEqual(['p3']);

    now = 1_060_001;
    await reader.read('a', ['p1'], 'req-4');
    expect(ehr.searches.at(-1)).toEqual({ clinicId: 'a', ids: ['p1'], requestId: 'req-4' });
  });

  test('per clinic: one clinic’s cache never answers for another’s patient of the same id', async () => {
    const ehr = recordingEhr({ a: [patient('p1', 'Lee')], b: [patient('p1', 'Okafor')] });
    const reader = createPatientIdentityReader({ fetch: ehr.fetch });
    const a = await reader.read('a', ['p1'], 'r');
    const b = await reader.read('b', ['p1'], 'r');
    expect(ehr.searches.map((s) => s.clinicId)).toEqual(['a', 'b']);
    expect(a.get('p1')).toMatchObject({ ok: true, identity: { name: 'Ann Lee' } });
    expect(b.get('p1')).toMatchObject({ ok: true, identity: { name: 'Ann Okafor' } });
    expect((await reader.read('a', ['p1'], 'r')).get('p1')).toMatchObject({ identity: { name: 'Ann Lee' } });
    expect(ehr.searches).toHaveLength(2);
  });

  test('bounded: past maxPerClinic the least recently used identity is dropped, and past maxClinics a clinic', async () => {
    const ids = ['p1', 'p2', 'p3', 'p4'];
    const ehr = recordingEhr({ a: ids.map((id) => patient(id, id)), b: [patient('p1', 'B')] });
    const reader = createPatientIdentityReader({ fetch: ehr.fetch, maxPerClinic: 3, maxClinics: 1 });
    await reader.read('a', ['p1', 'p2', 'p3'], 'r');
    await reader.read('a', ['p1'], 'r'); // p1 is now the most recently used
    await reader.read('a', ['p4'], 'r'); // evicts p2
    const before = ehr.searches.length;
    await reader.read('a', ['p1', 'p3', 'p4'], 'r');
    expect(ehr.searches.length).toBe(before);
    await reader.read('a', ['p2'], 'r');
    expect(ehr.searches.at(-1)?.ids).toEqual(['p2']);

    // A second clinic with maxClinics 1 drops clinic a's cache entirely.
    await reader.read('b', ['p1'], 'r');
    await reader.read('a', ['p1'], 'r');
    expect(ehr.searches.at(-1)).toMatchObject({ clinicId: 'a', ids: ['p1'] });
  });

  test('a page of many patients is split into searches of maxIdsPerSearch ids', async () => {
    const ids = Array.from({ length: 7 }, (_, i) => `p${i}`);
    const ehr = recordingEhr({ a: ids.map((id) => patient(id, id)) });
    const reader = createPatientIdentityReader({ fetch: ehr.fetch, maxIdsPerSearch: 3 });
    const read = await reader.read('a', ids, 'r');
    expect(ehr.searches.map((s) => s.ids)).toEqual([ids.slice(0, 3), ids.slice(3, 6), ids.slice(6)]);
    expect([...read.values()].every((r) => r.ok)).toBe(true);
  });

  test('an EHR failure is a reason, not a throw, and is not cached', async () => {
    const ehr = recordingEhr({ a: [patient('p1', 'Lee')] });
    const reader = createPatientIdentityReader({ fetch: ehr.fetch });
    ehr.fail(new Error('503'));
    expect((await reader.read('a', ['p1'], 'r')).get('p1')).toEqual({ ok: false, reason: 'ehr_unavailable' });
    ehr.fail(undefined);
    expect((await reader.read('a', ['p1'], 'r')).get('p1')).toMatchObject({ ok: true });
    expect(ehr.searches).toHaveLength(2);
  });

  test('a slow EHR times out; searches beyond the concurrency bound queue, and past the queue bound are busy', async () => {
    const ehr = recordingEhr({ a: ['p1', 'p2', 'p3', 'p4'].map((id) => patient(id, id)) });
    const reader = createPatientIdentityReader({
      fetch: ehr.fetch,
      timeoutMs: 200,
      concurrencyPerClinic: 1,
      maxQueuedPerClinic: 1,
    });
    const release = ehr.hold();
    const started = Date.now();
    const [r1, r2, r3] = await Promise.all([
      reader.read('a', ['p1'], 'r1'), // in flight, held
      reader.read('a', ['p2'], 'r2'), // queued behind it
      reader.read('a', ['p3'], 'r3'), // the queue is full
    ]);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(r1.get('p1')).toEqual({ ok: false, reason: 'timeout' });
    expect(r2.get('p2')).toEqual({ ok: false, reason: 'timeout' });
    expect(r3.get('p3')).toEqual({ ok: false, reason: 'busy' });
    // Only one search reached the EHR at a time; the queued one, past its deadline, is never sent.
    release();
    await new Promise((r) => setTimeout(r, 20));
    expect(ehr.searches.map((s) => s.ids)).toEqual([['p1']]);
    // The late answer to the held search still fills the cache for the next view.
    expect((await reader.read('a', ['p1'], 'r4')).get('p1')).toMatchObject({ ok: true });
    expect(ehr.searches).toHaveLength(1);
  });
});
