// The care-gap kind (colorectal-cancer screening and its like): one patient, triggered by a booked visit, an arriving
// result or the weekly panel sweep; data closes the gap. Node side only (json-rules-engine): workflows take types.
import crcScreening2021 from './protocols/crc-screening-2021.json' with { type: 'json' };
import type { KindDeclaration } from '../types.ts';
import { CareGapDecisionSchema, type CareGapDecision } from './decision.ts';
import { evaluateCareGap } from './evaluate.ts';
import { CareGapFactsSchema, type CareGapFacts } from './facts.ts';
import { CareGapProtocolSchema, parseCareGapProtocol, type CareGapProtocol } from './protocol.ts';
import { CARE_GAP_VALUE_SET_IDS } from './value-sets.ts';

export * from './decision.ts';
export * from './facts.ts';
export * from './protocol.ts';
export { careGapNextDueDate, evaluateCareGap } from './evaluate.ts';
export {
  careGapValueSetsWith,
  loadValueSetExpansion,
  CARE_GAP_VALUE_SETS,
  type CareGapValueSet,
} from './value-sets.ts';

/** The built-in care-gap protocols, parsed (and so validated, safety rules included) at import. */
export const CARE_GAP_BUILTINS: readonly CareGapProtocol[] = [parseCareGapProtocol(crcScreening2021)];

/**
 * The care-gap kind. Dispositions route as docs/protocols/crc-screening-2021.md's table says: `outreach` puts a
 * tracking item in the `outreach` queue; `nurse_review` / `doctor_review` go to the nurse / doctor queues (pools
 * `screening_outreach`, `gi_followup`, `pcp_or_coverage`); `not_applicable`, `gap_closed` and `suppressed` create no
 * work item and no Task.
 */
export const careGapKind: KindDeclaration<CareGapProtocol, CareGapFacts, CareGapDecision> = {
  id: 'care-gap',
  title: 'Care gap',
  subject: 'patient',
  triggers: ['appointment.booked', 'result.available', 'panel.sweep'],
  dispositions: {
    not_applicable: { queue: null, closes: true, description: 'Out of the screening population or excluded' },
    gap_closed: { queue: null, closes: true, description: 'Screened and up to date; re-evaluated at nextDueDate' },
    suppressed: { queue: null, closes: true, description: 'Already ordered, or declined' },
    outreach: {
      queue: 'outreach',
      closes: false,
      description: 'Due and automatable: a pended FIT order and mailed outreach, tracked until a result arrives',
    },
    nurse_review: { queue: 'nurse', closes: false, description: 'A person must act' },
    doctor_review: { queue: 'doctor', closes: false, description: 'A prescriber must decide' },
  },
  actions: [
    { id: 'sign_order', label: 'Sign the order', roles: ['doctor'], queues: ['outreach', 'doctor'] },
    {
      id: 'record_decline',
      label: 'Record a decline',
      roles: ['nurse', 'doctor'],
      queues: ['outreach', 'nurse', 'doctor'],
    },
    {
      id: 'done_elsewhere',
      label: 'Done elsewhere (date and test)',
      roles: ['nurse', 'doctor'],
      queues: ['outreach', 'nurse', 'doctor'],
    },
    { id: 'snooze', label: 'Snooze until a date', roles: ['nurse', 'doctor'], queues: ['outreach', 'nurse', 'doctor'] },
    { id: 'escalate', label: 'Escalate to a doctor', roles: ['nurse'], queues: ['outreach', 'nurse'] },
  ],
  valueSets: CARE_GAP_VALUE_SET_IDS,
  // The deciding clause is what sent a gap to a person; care gaps run no nurse SLA and have no approve/deny to override.
  analytics: { failedFindings: 'clause' },
  workflowType: 'careGap',
  definitionSchema: CareGapProtocolSchema,
  factsSchema: CareGapFactsSchema,
  decisionSchema: CareGapDecisionSchema,
  owns: (definition) =>
    definition !== null && typeof definition === 'object' && (definition as { kind?: unknown }).kind === 'care-gap',
  evaluate: evaluateCareGap,
  summarize: (decision) => ({
    disposition: decision.disposition,
    clause: decision.clause,
    findings: decision.clauses.map((c) => ({ id: c.id, passed: c.passed })),
  }),
};

/** A built-in care-gap protocol by id: the given version, or the latest. */
export function findCareGapBuiltin(id: string, version?: number): CareGapProtocol | undefined {
  return CARE_GAP_BUILTINS.filter((p) => p.id === id && (version === undefined || p.version === version)).sort(
    (a, b) => b.version - a.version,
  )[0];
}
