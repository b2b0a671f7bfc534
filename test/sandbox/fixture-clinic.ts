// A small, deterministic clinic for the sandbox's own tests (independent of sandbox/synthetic, which may change shape):
// every search-parameter kind the sandbox supports has data here, including edge cases (periods, missing elements,
// identifiers with and without system, names with accents, month-precision dates).
import type {
  AllergyIntolerance,
  Appointment,
  Condition,
  Encounter,
  Medication,
  MedicationRequest,
  Observation,
  Organization,
  Patient,
  Practitioner,
  Resource,
} from '@medplum/fhirtypes';

export const LOINC = 'http://loinc.org';
export const SNOMED = 'http://snomed.info/sct';
export const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
export const MRN_SYSTEM = 'urn:oid:1.2.36.146.595.217.0.1';
export const A1C = '4548-4';
export const LDL = '13457-7';
export const SYSTOLIC = '8480-6';
export const CREATININE = '2160-0';

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FAMILIES = ['Smith', 'Johnson', 'Nguyen', 'García', 'Okafor', 'Müller', 'Kowalski', 'Haddad', 'Tanaka', 'Brown'];
const GIVENS = ['Ana', 'John', 'Mei', 'Luis', 'Chidi', 'Jürgen', 'Ola', 'Sami', 'Yuki', 'Grace', 'Anatole'];
const MEDS = [
  { code: '860975', display: 'metformin 500 MG Oral Tablet' },
  { code: '314076', display: 'lisinopril 10 MG Oral Tablet' },
  { code: '617310', display: 'atorvastatin 20 MG Oral Tablet' },
  { code: '197361', display: 'amlodipine 5 MG Oral Tablet' },
  { code: '310798', display: 'hydrochlorothiazide 25 MG Oral Tablet' },
  { code: '966222', display: 'levothyroxine 0.05 MG Oral Tablet' },
];
const CONDITIONS = [
  { code: '44054006', display: 'Diabetes mellitus type 2' },
  { code: '38341003', display: 'Hypertensive disorder' },
  { code: '55822004', display: 'Hyperlipidemia' },
  { code: '40930008', display: 'Hypothyroidism' },
];
const ALLERGENS = [
  { code: '7980', display: 'Penicillin G' },
  { code: '1191', display: 'Aspirin' },
  { code: '2670', display: 'Codeine' },
];

export interface FixtureClinic {
  resources: Resource[];
  patientIds: string[];
}

/**
 * A deterministic clinic: per patient ~35–55 resources (encounters, labs, vitals, conditions, medication requests,
 * allergies, appointments), plus shared practitioners, an organization and a Medication catalog.
 */
export function buildFixtureClinic(patients: number, seed = 7): FixtureClinic {
  const rnd = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  const day = (offsetDays: number): string => new Date(Date.UTC(2025, 0, 1) + offsetDays * 86_400_000).toISOString();
  const dateOnly = (offsetDays: number): string => day(offsetDays).slice(0, 10);
  const resources: Resource[] = [];
  const patientIds: string[] = [];
  const lastUpdated = (i: number): string => new Date(Date.UTC(2025, 5, 1) + i * 1000).toISOString();
  let n = 0;
  const meta = (): { lastUpdated: string } => ({ lastUpdated: lastUpdated(n++) });

  const org: Organization = { resourceType: 'Organization', id: 'org-1', meta: meta(), name: 'Main Street Pharmacy' };
  const practitioners: Practitioner[] = [1, 2, 3].map((i) => ({
    resourceType: 'Practitioner',
    id: `prac-${i}`,
    meta: meta(),
    name: [{ family: pick(FAMILIES), given: [pick(GIVENS)], prefix: ['Dr.'] }],
  }));
  const medications: Medication[] = MEDS.map((m, i) => ({
    resourceType: 'Medication',
    id: `med-${i}`,
    meta: meta(),
    status: 'active',
    code: { coding: [{ system: RXNORM, code: m.code, display: m.display }], text: m.display },
  }));
  resources.push(org, ...practitioners, ...medications);

  for (let p = 0; p < patients; p++) {
    const pid = `pat-${String(p).padStart(5, '0')}`;
    patientIds.push(pid);
    const patientRef = { reference: `Patient/${pid}` };
    const birthYear = 1940 + int(0, 60);
    const patient: Patient = {
      resourceType: 'Patient',
      id: pid,
      meta: meta(),
      active: rnd() < 0.95,
      identifier:
        p % 10 === 3 ? [{ value: `LEGACY${p}` }] : [{ system: MRN_SYSTEM, value: `MRN${String(p).padStart(6, '0')}` }],
      name: [{ family: FAMILIES[p % FAMILIES.length], given: [pick(GIVENS), pick(GIVENS)] }],
      gender: p % 2 === 0 ? 'female' : 'male',
      // Every 7th patient has a month-precision birth date; every 11th has none.
      ...(p % 11 === 5
        ? {}
        : { birthDate: p % 7 === 0 ? `${birthYear}-0${int(1, 9)}` : `${birthYear}-0${int(1, 9)}-1${int(0, 9)}` }),
      address: [{ line: [`${int(1, 999)} Main St`], city: pick(['Springfield', 'Shelbyville', 'Québec']) }],
      generalPractitioner: [{ reference: `Practitioner/${pick(practitioners).id}` }],
    };
    resources.push(patient);

    const encounterIds: string[] = [];
    const encounters = int(4, 8);
    for (let e = 0; e < encounters; e++) {
      const start = -int(1, 900);
      const id = `${pid}-enc-${e}`;
      encounterIds.push(id);
      const enc: Encounter = {
        resourceType: 'Encounter',
        id,
        meta: meta(),
        status: pick(['finished', 'finished', 'finished', 'cancelled', 'planned']),
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: pick(['AMB', 'AMB', 'VR']) },
        type: [{ coding: [{ system: SNOMED, code: pick(['185349003', '390906007']) }] }],
        subject: patientRef,
        participant: [{ individual: { reference: `Practitioner/${pick(practitioners).id}` } }],
        period: { start: day(start), ...(e % 5 === 4 ? {} : { end: day(start).replace('T00:00', 'T00:30') }) },
      };
      resources.push(enc);
    }

    const conditions = int(1, 3);
    for (let c = 0; c < conditions; c++) {
      const cond = CONDITIONS[(p + c) % CONDITIONS.length]!;
      const resolved = rnd() < 0.2;
      const condition: Condition = {
        resourceType: 'Condition',
        id: `${pid}-cond-${c}`,
        meta: meta(),
        clinicalStatus: {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/condition-clinical',
              code: resolved ? 'resolved' : 'active',
            },
          ],
        },
        category: [
          {
            coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'problem-list-item' }],
          },
        ],
        code: { coding: [{ system: SNOMED, code: cond.code, display: cond.display }], text: cond.display },
        subject: patientRef,
        onsetDateTime: dateOnly(-int(200, 3000)),
        recordedDate: dateOnly(-int(1, 199)),
      };
      resources.push(condition);
    }

    const labs = int(8, 16);
    for (let o = 0; o < labs; o++) {
      const code = pick([A1C, LDL, CREATININE, SYSTOLIC]);
      const obs: Observation = {
        resourceType: 'Observation',
        id: `${pid}-obs-${o}`,
        meta: meta(),
        status: pick(['final', 'final', 'final', 'amended', 'preliminary']),
        category: [
          {
            coding: [
              {
                system: 'http://terminology.hl7.org/CodeSystem/observation-category',
                code: code === SYSTOLIC ? 'vital-signs' : 'laboratory',
              },
            ],
          },
        ],
        code: { coding: [{ system: LOINC, code, display: `LOINC ${code}` }] },
        subject: patientRef,
        encounter: { reference: `Encounter/${pick(encounterIds)}` },
        effectiveDateTime: day(-int(1, 900)).replace('T00:00:00.000Z', `T1${int(0, 9)}:00:00-05:00`),
        valueQuantity: { value: int(50, 180) / 10, unit: code === SYSTOLIC ? 'mm[Hg]' : '%' },
      };
      resources.push(obs);
    }

    const medCount = int(2, 5);
    for (let m = 0; m < medCount; m++) {
      const med = medications[(p + m) % medications.length]!;
      const authored = -int(30, 700);
      const mr: MedicationRequest = {
        resourceType: 'MedicationRequest',
        id: `${pid}-mr-${m}`,
        meta: meta(),
        status: pick(['active', 'active', 'active', 'stopped', 'completed']),
        intent: 'order',
        subject: patientRef,
        encounter: { reference: `Encounter/${pick(encounterIds)}` },
        requester: { reference: `Practitioner/${pick(practitioners).id}` },
        authoredOn: day(authored),
        ...(m === 0 && p % 4 === 0
          ? { medicationCodeableConcept: { coding: [{ system: RXNORM, code: med.code?.coding?.[0]?.code }] } }
          : { medicationReference: { reference: `Medication/${med.id}` } }),
        dispenseRequest: { numberOfRepeatsAllowed: int(0, 5) },
      };
      resources.push(mr);
      if (m === 0) {
        // The refill request the EHR sends us: a proposal, asking to renew the order.
        resources.push({
          resourceType: 'MedicationRequest',
          id: `${pid}-refill`,
          meta: meta(),
          status: 'draft',
          intent: 'proposal',
          subject: patientRef,
          requester: { reference: `Organization/${org.id}` },
          authoredOn: day(-int(0, 5)),
          medicationReference: { reference: `Medication/${med.id}` },
          priorPrescription: { reference: `MedicationRequest/${mr.id}` },
        } satisfies MedicationRequest);
      }
    }

    if (p % 3 !== 2) {
      const allergen = ALLERGENS[p % ALLERGENS.length]!;
      const allergy: AllergyIntolerance = {
        resourceType: 'AllergyIntolerance',
        id: `${pid}-allergy`,
        meta: meta(),
        clinicalStatus: {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical',
              code: p % 5 === 0 ? 'inactive' : 'active',
            },
          ],
        },
        code: { coding: [{ system: RXNORM, code: allergen.code, display: allergen.display }] },
        patient: patientRef,
        recordedDate: dateOnly(-int(10, 2000)),
      };
      resources.push(allergy);
    }

    const appointments = int(1, 3);
    for (let a = 0; a < appointments; a++) {
      const start = int(-200, 120);
      const appt: Appointment = {
        resourceType: 'Appointment',
        id: `${pid}-appt-${a}`,
        meta: meta(),
        status: start < 0 ? pick(['fulfilled', 'noshow', 'cancelled']) : pick(['booked', 'proposed']),
        start: day(start).replace('T00:00', 'T14:00'),
        end: day(start).replace('T00:00', 'T14:20'),
        participant: [
          { actor: patientRef, status: 'accepted' },
          { actor: { reference: `Practitioner/${pick(practitioners).id}` }, status: 'accepted' },
        ],
      };
      resources.push(appt);
    }
  }
  return { resources, patientIds };
}
