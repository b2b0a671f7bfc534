// Node side only (activities/, api/, cli/): json-rules-engine pulls in modules the workflow sandbox forbids. A kind's
// evaluator is in rules/kinds/<k>/ (refill's: evaluate.ts).
export { createOperators, monthsBefore } from './operators.ts';
