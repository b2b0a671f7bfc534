import type { HumanName, Identifier, Patient } from '@medplum/fhirtypes';
import { LRUCache } from 'lru-cache';
import pLimit, { type LimitFunction } from 'p-limit';
import type { ClinicFhir } from './clinic-connectors.ts';

/**
 * Who a patient is, as the clinic's EHR says at the moment a person looks: shown beside a case, never stored in the
 * app database or in Temporal, and held in memory only for a short while (see {@link createPatientIdentityReader}).
 */
export interface PatientIdentity {
  /** The display name (`Patient.name`: the official one, else the usual one, else the first). */
  name: string | null;
  /** `Patient.birthDate` as the EHR has it (YYYY, YYYY-MM or YYYY-MM-DD). */
  birthDate: string | null;
  /** FHIR `Patient.gender`: `male`, `female`, `other` or `unknown`. */
  sex: string | null;
  /** The identifier typed MR (HL7 v2 table 0203): never another identifier in its place. */
  mrn: string | null;
}

/** Why an identity is not shown: the EHR failed, was too slow, was too busy here, or has no such patient. */
export type IdentityUnavailableReason = 'ehr_unavailable' | 'timeout' | 'busy' | 'not_found';

export type IdentityResult = { ok: true; identity: PatientIdentity } | { ok: false; reason: IdentityUnavailableReason };

/** Reads `ids` (Patient ids) from the clinic's EHR; the request carries `requestId` to the EHR's logs. */
export type PatientFetcher = (clinicId: string, ids: readonly string[], requestId: string) => Promise<Patient[]>;

export interface PatientIdentityReader {
  /**
   * The identity of each of `patientIds` in `clinicId`'s EHR, from the clinic's own cache when fresh, else in one
   * search per {@link PatientIdentityOptions.maxIdsPerSearch} ids. Never throws: a failed read is a reason.
   */
  read(clinicId: string, patientIds: readonly string[], requestId: string): Promise<Map<string, IdentityResult>>;
}

export interface PatientIdentityOptions {
  fetch: PatientFetcher;
  /** How long an identity may be shown from memory (default 60 s): a renamed patient shows within this. */
  ttlMs?: number;
  /** Identities kept per clinic, least recently used dropped first (default 1000). */
  maxPerClinic?: number;
  /** Clinics with a cache at once, least recently used dropped first (default 1000). */
  maxClinics?: number;
  /** The whole read, queueing included, gives up after this and the view shows the case without it (default 2.5 s). */
  timeoutMs?: number;
  /** EHR searches in flight per clinic from this process (default 4). */
  concurrencyPerClinic?: number;
  /** Searches waiting per clinic beyond those; more answer `busy` at once (default 32). */
  maxQueuedPerClinic?: number;
  /** Ids per `Patient?_id=` search, which keeps the URL short (default 50). */
  maxIdsPerSearch?: number;
  /** The cache's clock in milliseconds (tests); default `performance.now`. */
  clock?: () => number;
}

/** The FHIR id grammar: anything else is not asked of the EHR. */
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const MR = { system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' };

function displayName(names: readonly HumanName[] | undefined): string | null {
  const current = (names ?? []).filter((n) => n.use !== 'old');
  const name = current.find((n) => n.use === 'official') ?? current.find((n) => n.use === 'usual') ?? current[0];
  if (!name) return null;
  if (name.text?.trim()) return name.text.trim();
  const parts = [...(name.given ?? []), name.family].filter((p): p is string => Boolean(p?.trim()));
  return parts.length ? parts.join(' ') : null;
}

function medicalRecordNumber(identifiers: readonly Identifier[] | undefined): string | null {
  const mrn = (identifiers ?? []).find(
    (i) => i.use !== 'old' && i.type?.coding?.some((c) => c.system === MR.system && c.code === MR.code),
  );
  return mrn?.value ?? null;
}

/** The identity fields of a FHIR Patient, and nothing else of it. */
export function identityOf(patient: Patient): PatientIdentity {
  return {
    name: displayName(patient.name),
    birthDate: patient.birthDate ?? null,
    sex: patient.gender ?? null,
    mrn: medicalRecordNumber(patient.identifier),
  };
}

/**
 * Age in whole years on `today` (YYYY-MM-DD) for a full birth date; null for a partial one (YYYY, YYYY-MM), whose
 * age would be a guess, and for a birth date after `today`.
 */
export function ageOn(birthDate: string | null, today: string): number | null {
  const born = /^(\d{4})-(\d{2})-(\d{2})$/.exec(birthDate ?? '');
  const now = /^(\d{4})-(\d{2})-(\d{2})/.exec(today);
  if (!born || !now) return null;
  const years = Number(now[1]) - Number(born[1]) - (`${now[2]}${now[3]}` < `${born[2]}${born[3]}` ? 1 : 0);
  return years >= 0 ? years : null;
}

/** The clinic's EHR through its SMART backend-services connector: one `Patient?_id=a,b,c` search per call. */
export function clinicPatientFetcher(fhir: ClinicFhir): PatientFetcher {
  return (clinicId, ids, requestId) =>
    fhir.withRequestId(requestId, async () => {
      const ehr = await fhir.forClinic(clinicId);
      const { matches } = await ehr.search('Patient', { _id: ids.join(','), _count: ids.length });
      return matches;
    });
}

class Timeout extends Error {}
class Busy extends Error {}

interface ClinicSlot {
  patients: LRUCache<string, PatientIdentity>;
  limit: LimitFunction;
}

/**
 * Reads patient identities live from each clinic's EHR, with a short-lived, bounded, per-clinic memory cache: one
 * clinic's cache never answers for another (patient ids are the EHR's, and two EHRs may use the same id for
 * different people). Only successful reads are cached; a failure is retried by the next view.
 */
export function createPatientIdentityReader(opts: PatientIdentityOptions): PatientIdentityReader {
  const ttl = opts.ttlMs ?? 60_000;
  const maxPerClinic = opts.maxPerClinic ?? 1000;
  const timeoutMs = opts.timeoutMs ?? 2500;
  const concurrency = opts.concurrencyPerClinic ?? 4;
  const maxQueued = opts.maxQueuedPerClinic ?? 32;
  const chunkSize = opts.maxIdsPerSearch ?? 50;
  const perf = opts.clock ? { now: opts.clock } : undefined;
  const clinics = new LRUCache<string, ClinicSlot>({ max: opts.maxClinics ?? 1000 });

  const slotOf = (clinicId: string): ClinicSlot => {
    let slot = clinics.get(clinicId);
    if (!slot) {
      slot = {
        patients: new LRUCache<string, PatientIdentity>({
          max: maxPerClinic,
          ttl,
          // Read the clock on every check (the default reuses a reading for 1 ms), so an injected clock is exact.
          ttlResolution: 0,
          ...(perf ? { perf } : {}),
        }),
        limit: pLimit(concurrency),
      };
      clinics.set(clinicId, slot);
    }
    return slot;
  };

  return {
    async read(clinicId, patientIds, requestId) {
      const results = new Map<string, IdentityResult>();
      const slot = slotOf(clinicId);
      const missing: string[] = [];
      for (const id of new Set(patientIds)) {
        const cached = slot.patients.get(id);
        if (cached) results.set(id, { ok: true, identity: cached });
        else if (!FHIR_ID.test(id)) results.set(id, { ok: false, reason: 'not_found' });
        else missing.push(id);
      }
      if (missing.length === 0) return results;

      const deadline = Date.now() + timeoutMs;
      const chunks: string[][] = [];
      for (let i = 0; i < missing.length; i += chunkSize) chunks.push(missing.slice(i, i + chunkSize));
      await Promise.all(
        chunks.map(async (ids) => {
          let reason: IdentityUnavailableReason = 'ehr_unavailable';
          try {
            if (slot.limit.pendingCount >= maxQueued) throw new Busy();
            // A search that waited out the deadline in the queue is not sent: nobody is waiting for its answer. One
            // that was sent fills the cache even when it answers late, so the next view of the page is quick.
            const search = slot.limit(async () => {
              if (Date.now() >= deadline) throw new Timeout();
              const asked = new Set(ids);
              const found = new Map<string, PatientIdentity>();
              for (const p of await opts.fetch(clinicId, ids, requestId)) {
                if (p.id && asked.has(p.id)) found.set(p.id, identityOf(p));
              }
              for (const [id, identity] of found) slot.patients.set(id, identity);
              return found;
            });
            const found = await withDeadline(search, deadline - Date.now());
            for (const id of ids) {
              const identity = found.get(id);
              results.set(id, identity ? { ok: true, identity } : { ok: false, reason: 'not_found' });
            }
            return;
          } catch (err) {
            if (err instanceof Timeout) reason = 'timeout';
            else if (err instanceof Busy) reason = 'busy';
          }
          for (const id of ids) results.set(id, { ok: false, reason });
        }),
      );
      return results;
    },
  };
}

/** `promise`, or a Timeout after `ms`; the promise itself runs on (its HTTP requests have their own timeout). */
async function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Timeout()), Math.max(0, ms));
  });
  promise.catch(() => undefined); // a late failure after the deadline is nobody's to handle
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}
