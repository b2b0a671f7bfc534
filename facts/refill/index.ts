export { patientRecordFromBundle } from './bundle.ts';
export { extractRefillFacts } from './refill-facts.ts';
export { identifyDrug, sameIngredient, type IdentifiedDrug } from './medication.ts';
export { extractVisits, type VisitFacts } from './visits.ts';
export { extractLabs, type LabFacts } from './labs.ts';
export { extractVitals, type VitalFacts } from './vitals.ts';
export type { PatientRecord } from './record.ts';
