// Public surface of the synthetic clinic generator (demo data, tests, benchmarks). No real patient data anywhere.
export { generateClinic, type GenerateOptions, type RefillScenario, type SyntheticClinic } from './generate.ts';
export { toPatientBundle } from './bundle.ts';
export { SCENARIOS } from './scenarios.ts';
export type { Disposition, ScenarioDef } from './plan.ts';
export type { DrugClass } from './catalog.ts';
