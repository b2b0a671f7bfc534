import type { Observation, ObservationComponent } from '@medplum/fhirtypes';
import type { BloodPressure } from '../../rules/kinds/refill/facts.ts';
import { SYSTEMS, VITAL_CODES } from './codes.ts';
import { dateOf, hasCode } from '../fhir.ts';

export interface VitalFacts {
  lastBloodPressure: BloodPressure | null;
}

const FINAL = ['final', 'amended', 'corrected'];

function componentValue(components: readonly ObservationComponent[], codes: readonly string[]): number | undefined {
  const value = components.find((c) => hasCode(c.code, SYSTEMS.loinc, codes))?.valueQuantity?.value;
  return typeof value === 'number' ? value : undefined;
}

/**
 * The last final blood pressure on or before `asOf`: a blood pressure panel (LOINC 85354-9) carrying both a systolic
 * (8480-6) and a diastolic (8462-4) component with numbers, as the FHIR vital-signs profile records it. A reading with
 * only one of the two numbers is not a blood pressure a rule can check, so it is skipped.
 */
export function extractVitals(observations: readonly Observation[], asOf: string): VitalFacts {
  let best: BloodPressure | null = null;
  for (const o of observations) {
    const date = dateOf(o.effectiveDateTime ?? o.effectivePeriod?.start ?? o.effectiveInstant ?? o.issued);
    if (!o.id || !date || date > asOf || !FINAL.includes(o.status)) continue;
    if (!hasCode(o.code, SYSTEMS.loinc, VITAL_CODES.bloodPressurePanel)) continue;
    const systolic = componentValue(o.component ?? [], VITAL_CODES.systolic);
    const diastolic = componentValue(o.component ?? [], VITAL_CODES.diastolic);
    if (systolic === undefined || diastolic === undefined) continue;
    if (best && best.date >= date) continue;
    best = {
      date,
      systolic,
      diastolic,
      evidence: {
        resourceType: 'Observation',
        id: o.id,
        date,
        value: `${systolic}/${diastolic}`,
        display: `Blood pressure: ${systolic}/${diastolic} mm[Hg]`,
      },
    };
  }
  return { lastBloodPressure: best };
}
