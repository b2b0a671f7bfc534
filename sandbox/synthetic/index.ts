// Public surface of the synthetic clinic generator (demo data, tests, benchmarks). No real patient data anywhere.
export { generateClinic, type GenerateOptions, type RefillScenario, type SyntheticClinic } from './generate.ts';
export { toPatientBundle } from './bundle.ts';
export { SCENARIOS } from './scenarios.ts';
export { CARE_GAP_SCENARIOS } from './care-gap-scenarios.ts';
export type { CareGapDisposition, CareGapScenario, CareGapScenarioDef } from './care-gap.ts';
export type { Disposition, ScenarioDef } from './plan.ts';
export type { DrugClass } from './catalog.ts';
