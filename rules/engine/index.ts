// Node side only (activities/, api/, cli/): json-rules-engine pulls in modules the workflow sandbox forbids.
export { BRIDGE_UNDETERMINED_CRITERION, CONTROLLED_SUBSTANCE_CRITERION, evaluateProtocol } from './evaluate.ts';
export { createOperators, monthsBefore } from './operators.ts';
