import type { AllergyIntolerance, CodeableConcept, Duration, MedicationRequest } from '@medplum/fhirtypes';
import { differenceInYears, endOfMonth, parseISO } from 'date-fns';
import { AppError, IsoDateSchema, jsonPath, type Evidence } from '../../rules/index.ts';
import { RefillFactsSchema, type RefillFacts } from '../../rules/kinds/refill/facts.ts';
import { classifyDrug } from '../../rules/drugs/classify.ts';
import { SYSTEMS } from './codes.ts';
import { codings, dateOf, keyOf, refKey, texts } from '../fhir.ts';
import { creatinineClearance, kidneyFunction } from './kidney.ts';
import { extractLabs } from './labs.ts';
import { extractPatientStatus } from './patient-status.ts';
import { identifyDrug, sameIngredient, type IdentifiedDrug } from './medication.ts';
import type { PatientRecord } from './record.ts';
import { extractVisits } from './visits.ts';
import { extractVitals } from './vitals.ts';

const PRESCRIPTION_INTENTS = ['order', 'original-order', 'reflex-order', 'filler-order', 'instance-order'];

/** Whole years at `asOf`. A partial birth date (YYYY or YYYY-MM) is read as its last possible day: the youngest age. */
function ageAt(birthDate: string | undefined, asOf: string): number | null {
  if (!birthDate) return null;
  let birth: Date;
  if (/^\d{4}$/.test(birthDate)) birth = parseISO(`${birthDate}-12-31`);
  else if (/^\d{4}-\d{2}$/.test(birthDate)) birth = endOfMonth(parseISO(`${birthDate}-01`));
  else birth = parseISO(birthDate.slice(0, 10));
  const years = differenceInYears(parseISO(asOf), birth);
  return Number.isFinite(years) && years >= 0 ? years : null;
}

function durationDays(d: Duration | undefined): number | null {
  if (typeof d?.value !== 'number') return null;
  const unit = (d.code ?? d.unit ?? 'd').toLowerCase();
  const perUnit = /^(d|day|days)$/.test(unit)
    ? 1
    : /^(wk|week|weeks)$/.test(unit)
      ? 7
      : /^(mo|month|months)$/.test(unit)
        ? 30
        : null;
  return perUnit === null ? null : Math.round(d.value * perUnit);
}

const isPrn = (mr: MedicationRequest | undefined): boolean | undefined =>
  mr?.dosageInstruction?.length
    ? mr.dosageInstruction.some((d) => d.asNeededBoolean === true || d.asNeededCodeableConcept !== undefined)
    : undefined;

const DENTAL = /dental|dentist|tooth|teeth/i;
const PROPHYLAXIS = /prophyla|before (the )?(dental )?procedure|premedicat/i;

function indication(drug: IdentifiedDrug, reasons: CodeableConcept[]): RefillFacts['drug']['antibioticIndication'] {
  if (!drug.classes.includes('antibiotic') || reasons.length === 0) return null;
  const said = texts(reasons);
  return said.some((t) => DENTAL.test(t) && PROPHYLAXIS.test(t)) ? 'dental_prophylaxis' : 'other';
}

function isActiveAllergy(a: AllergyIntolerance): boolean {
  const verification = codings(a.verificationStatus).map((c) => c.code);
  if (verification.includes('refuted') || verification.includes('entered-in-error')) return false;
  const clinical = codings(a.clinicalStatus).map((c) => c.code);
  // No clinical status at all is read as active: an allergy nobody closed is still an allergy.
  return clinical.length === 0 || clinical.includes('active');
}

function pharmacyType(record: PatientRecord): { type: RefillFacts['request']['pharmacyType']; evidence?: Evidence } {
  const keys = [refKey(record.request.requester), refKey(record.request.dispenseRequest?.performer)];
  for (const key of keys) {
    const org = record.organizations.find((o) => key && keyOf(o) === key);
    if (!org?.id) continue;
    const code = codings(org.type)
      .find((c) => c.system === SYSTEMS.pharmacyType)
      ?.code?.toLowerCase();
    const type =
      code === 'retail' || code === 'local'
        ? 'retail'
        : code === 'mail-order' || code === 'mail_order'
          ? 'mail-order'
          : null;
    return { type, evidence: { resourceType: 'Organization', id: org.id, ...(org.name ? { display: org.name } : {}) } };
  }
  return { type: null };
}

/**
 * Reduces a patient's record to the facts a refill protocol may look at, as of a day. Pure and deterministic: the
 * same record and day always give the same facts, which are recorded per case and replayed in simulations.
 *
 * @throws AppError `INVALID_INPUT` when `asOf` is not a YYYY-MM-DD date, or the record yields facts that do not
 *   validate (message and issues carry JSON paths only, never record content).
 */
export function extractRefillFacts(record: PatientRecord, opts: { asOf: string }): RefillFacts {
  const asOfParsed = IsoDateSchema.safeParse(opts.asOf);
  if (!asOfParsed.success) throw new AppError('INVALID_INPUT', 'asOf must be a calendar date (YYYY-MM-DD)');
  const asOf = asOfParsed.data;
  const { request } = record;

  const drug = identifyDrug(request, record.medications);
  const priorKey = refKey(request.priorPrescription);
  const prior =
    record.priorPrescription ?? record.medicationRequests.find((m) => priorKey !== undefined && keyOf(m) === priorKey);

  // Therapy start: earliest prescription of the same ingredient (a new strength is a dose change, not a new start).
  const starts = [...record.medicationRequests, ...(prior ? [prior] : [])]
    .filter((m) => PRESCRIPTION_INTENTS.includes(m.intent) && m.status !== 'entered-in-error' && m.id)
    .map((m) => ({ m, date: dateOf(m.authoredOn) }))
    .filter((x): x is { m: MedicationRequest; date: string } => !!x.date && x.date <= asOf)
    .filter((x) => sameIngredient(drug, identifyDrug(x.m, record.medications)))
    .sort((a, b) => a.date.localeCompare(b.date));
  const start = starts[0];

  const allergies = record.allergies.filter(
    (a) =>
      isActiveAllergy(a) &&
      classifyDrug({
        rxnormCodes: codings(a.code).flatMap((c) => (c.system === SYSTEMS.rxnorm && c.code ? [c.code] : [])),
        texts: texts(a.code),
      }).ingredients.some((i) => drug.ingredients.includes(i)),
  );

  const pharmacy = pharmacyType(record);
  const requestDays = durationDays(request.dispenseRequest?.expectedSupplyDuration);
  const priorDays = durationDays(prior?.dispenseRequest?.expectedSupplyDuration);
  const requestEvidence: Evidence = {
    resourceType: 'MedicationRequest',
    id: request.id ?? 'unknown',
    ...(dateOf(request.authoredOn) ? { date: dateOf(request.authoredOn) } : {}),
    display: drug.name,
  };

  const ageYears = ageAt(record.patient.birthDate, asOf);
  const status = extractPatientStatus(record.patient, record.conditions, record.observations, asOf);
  const labs = extractLabs(record.observations, drug.ingredients, asOf);
  const creatinineObservation = record.observations.find(
    (o) => labs.lastCreatinine !== null && o.id === labs.lastCreatinine.id,
  );

  const facts = {
    asOf,
    drug: {
      name: drug.name,
      rxnormCodes: drug.rxnormCodes,
      ingredients: drug.ingredients,
      classes: drug.classes,
      form: drug.form,
      controlledSchedule: drug.controlledSchedule,
      prn: isPrn(request) ?? isPrn(prior) ?? false,
      u500: drug.u500,
      antibioticIndication: indication(drug, [...(request.reasonCode ?? []), ...(prior?.reasonCode ?? [])]),
      evidence: requestEvidence,
      strengthMg: drug.strengthMg,
    },
    request: {
      pharmacyType: pharmacy.type,
      supplyDays: requestDays ?? priorDays,
      quantity: request.dispenseRequest?.quantity?.value ?? null,
      refills: request.dispenseRequest?.numberOfRepeatsAllowed ?? null,
      evidence: [
        requestEvidence,
        ...(pharmacy.evidence ? [pharmacy.evidence] : []),
        ...(requestDays === null && priorDays !== null && prior?.id
          ? [{ resourceType: 'MedicationRequest', id: prior.id }]
          : []),
      ],
    },
    patient: {
      ageYears,
      evidence: { resourceType: 'Patient', id: record.patient.id ?? 'unknown' },
      ...status,
    },
    therapy: {
      startDate: start?.date ?? null,
      evidence: start ? { resourceType: 'MedicationRequest', id: start.m.id as string, date: start.date } : null,
    },
    priorPrescription: {
      status: prior?.status ?? null,
      evidence: prior?.id
        ? {
            resourceType: 'MedicationRequest',
            id: prior.id,
            ...(dateOf(prior.authoredOn) ? { date: dateOf(prior.authoredOn) } : {}),
            display: prior.status,
          }
        : null,
    },
    allergy: {
      activeToIngredient: allergies.length > 0,
      evidence: allergies.map((a) => ({
        resourceType: 'AllergyIntolerance',
        id: a.id ?? 'unknown',
        ...(texts(a.code)[0] ? { display: texts(a.code)[0] } : {}),
      })),
    },
    visits: extractVisits(record.encounters, record.practitioners, record.conditions, asOf),
    labs: {
      ...labs,
      kidneyFunction: kidneyFunction(labs.lastEgfr, labs.lastCreatinine, creatinineObservation, ageYears, status.sex),
      creatinineClearance: creatinineClearance(
        labs.lastCreatinine,
        creatinineObservation,
        ageYears,
        status.sex,
        status.weight,
      ),
    },
    vitals: extractVitals(record.observations, asOf),
  };

  const parsed = RefillFactsSchema.safeParse(facts);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: jsonPath(i.path), message: i.message }));
    throw new AppError('INVALID_INPUT', `facts do not validate at ${issues[0]?.path ?? '$'}`, { issues });
  }
  return parsed.data;
}
