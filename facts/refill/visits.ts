import type { CodeableConcept, Condition, Encounter, Practitioner } from '@medplum/fhirtypes';
import type { DatedEvidence } from '../../rules/index.ts';
import {
  ASTHMA,
  CCN_QUALIFICATION,
  CCN_ROLE,
  CCN_VISIT_TYPES,
  PCP_QUALIFICATION,
  PCP_ROLE,
  ROV_TYPES,
  SYSTEMS,
} from './codes.ts';
import { codings, dateOf, keyOf, refKey, texts } from '../fhir.ts';
import { hasRole, participantsOf } from './people.ts';

export interface VisitFacts {
  lastPcpRov: DatedEvidence | null;
  lastPcpRovForAsthma: DatedEvidence | null;
  lastCcnVisit: DatedEvidence | null;
}

const isType = (e: Encounter, types: readonly { system: string; code: string }[]): boolean =>
  codings(e.type).some((c) => types.some((t) => t.system === c.system && t.code === c.code));

function isAsthma(concepts: (CodeableConcept | undefined)[]): boolean {
  return (
    codings(concepts).some(
      (c) =>
        (c.system === SYSTEMS.snomed && ASTHMA.snomed.includes(c.code ?? '')) ||
        (c.system === SYSTEMS.icd10 && ASTHMA.icd10Prefixes.some((p) => (c.code ?? '').toUpperCase().startsWith(p))),
    ) || texts(concepts).some((t) => /\basthma/i.test(t))
  );
}

/** Whether asthma was addressed: a reason code, a reason/diagnosis Condition, coded or named asthma. */
function addressesAsthma(e: Encounter, conditions: readonly Condition[]): boolean {
  const refs = [...(e.reasonReference ?? []), ...(e.diagnosis ?? []).map((d) => d.condition)].map(refKey);
  const linked = conditions.filter((c) => refs.includes(keyOf(c))).map((c) => c.code);
  return isAsthma([...(e.reasonCode ?? []), ...linked]);
}

const latest = (list: DatedEvidence[]): DatedEvidence | null =>
  list.reduce<DatedEvidence | null>((best, v) => (!best || v.date > best.date ? v : best), null);

/**
 * Finds the last qualifying visits on or before `asOf`. Only finished ambulatory encounters count, with the right
 * visit type and the right clinician taking part: a planned, cancelled or future visit is no visit, and Appointments
 * are never read.
 */
export function extractVisits(
  encounters: readonly Encounter[],
  practitioners: readonly Practitioner[],
  conditions: readonly Condition[],
  asOf: string,
): VisitFacts {
  const rov: DatedEvidence[] = [];
  const rovAsthma: DatedEvidence[] = [];
  const ccn: DatedEvidence[] = [];
  for (const e of encounters) {
    const date = dateOf(e.period?.start ?? e.period?.end);
    if (e.status !== 'finished' || e.class?.code !== 'AMB' || !date || date > asOf || !e.id) continue;
    const people = participantsOf(e, practitioners);
    const evidence = (display: string): DatedEvidence => ({
      resourceType: 'Encounter',
      id: e.id as string,
      date,
      display,
    });
    if (isType(e, ROV_TYPES) && people.some((p) => hasRole(p, PCP_QUALIFICATION, PCP_ROLE))) {
      rov.push(evidence('Office visit with the PCP'));
      if (addressesAsthma(e, conditions)) rovAsthma.push(evidence('Office visit with the PCP, asthma addressed'));
    }
    if (isType(e, CCN_VISIT_TYPES) && people.some((p) => hasRole(p, CCN_QUALIFICATION, CCN_ROLE))) {
      ccn.push(evidence('Visit with the Collaborative Care Nurse'));
    }
  }
  return { lastPcpRov: latest(rov), lastPcpRovForAsthma: latest(rovAsthma), lastCcnVisit: latest(ccn) };
}
