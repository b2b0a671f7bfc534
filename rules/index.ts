// Public surface of the pure core shared by every kind: AppError, evidence, the condition schemas, operators, the drug
// vocabulary. Sandbox-cheap; does not re-export engine/. A kind's own schemas are in rules/kinds/<k>/.
export { AppError, jsonPath, type ErrorCode, type ErrorContext } from './errors.ts';
export {
  DatedEvidenceSchema,
  EvidenceSchema,
  IsoDateSchema,
  type DatedEvidence,
  type Evidence,
} from './schema/evidence.ts';
export {
  ConditionNameSchema,
  createConditionSchemas,
  findConditionCycle,
  MAX_PROTOCOL_DEPTH,
  protocolValidator,
  type Condition,
  type ConditionReference,
  type ConditionSchemas,
  type FactCondition,
  type JsonValue,
  type ProtocolIssue,
  type TopLevelCondition,
} from './schema/protocol.ts';
export { OPERATOR_NAMES, OPERATOR_SPECS, type OperatorName } from './schema/operators.ts';
export { createFactPathResolver, type FactPathResolver, type FactPathTarget } from './schema/fact-paths.ts';
export {
  ControlledScheduleSchema,
  DoseFormSchema,
  DRUG_CLASSES,
  DrugClassSchema,
  type ControlledSchedule,
  type DoseForm,
  type DrugClass,
} from './drugs/vocabulary.ts';
