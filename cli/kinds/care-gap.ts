// The care-gap kind's part of the CLI: the decision `autopilot evaluate` prints for a care gap. Everything else (its
// validation, diff and simulations, over recorded cases or bundles) is the engine's, through the kinds registry.
import { careGapKind } from '../../rules/kinds/care-gap/index.ts';
import type { CareGapDecision } from '../../rules/kinds/care-gap/decision.ts';
import type { KindCli } from './types.ts';

export const careGapCli: KindCli = {
  kind: careGapKind.id,
  output(decision) {
    const d = decision as CareGapDecision;
    return {
      disposition: d.disposition,
      clause: d.clause,
      reasons: d.reasons,
      priority: d.priority,
      routeTo: d.routeTo,
      nextDueDate: d.nextDueDate,
      actions: d.actions,
      protocol: d.protocol,
    };
  },
  outputUsage:
    '{ disposition, clause, reasons: [{ id, evidence }], priority, routeTo, nextDueDate, actions, protocol }',
};
