// Refill triage declared as a protocol kind, and its public surface: its facts, decision and protocol schemas, its
// evaluator (json-rules-engine, and the compiled one for simulation), its built-in protocols; its routing is
// rules/lifecycle/'s. Node side only (json-rules-engine): workflows take types.
import { z } from 'zod';
import { diffProtocols } from './diff.ts';
import { evaluateProtocol } from './evaluate.ts';
import { simulateRecorded } from './simulate-recorded.ts';
import { TriageDecisionSchema, type TriageDecision } from './decision.ts';
import { RefillFactsSchema, type RefillFacts } from './facts.ts';
import { ProtocolDefinitionSchema, type ProtocolDefinition } from './protocol.ts';
import { BUILTIN_PROTOCOLS } from './protocols/index.ts';
import { CLINICIAN_ACTIONS, QUEUE_ACTIONS, QUEUE_ROLES, QUEUES, routeDisposition } from '../../lifecycle/index.ts';
import type { DispositionRoute, KindAction, KindDeclaration } from '../types.ts';

export * from './decision.ts';
export * from './facts.ts';
export * from './protocol.ts';
export { BRIDGE_UNDETERMINED_CRITERION, CONTROLLED_SUBSTANCE_CRITERION, evaluateProtocol } from './evaluate.ts';
export { BUILTIN_PROTOCOLS, findBuiltinProtocol } from './protocols/index.ts';

const KIND = 'refill';

/** A refill definition carries no `kind` (it predates kinds) or `"kind": "refill"`. */
function ownsRefill(definition: unknown): boolean {
  if (typeof definition !== 'object' || definition === null || Array.isArray(definition)) return false;
  const kind = (definition as { kind?: unknown }).kind;
  return kind === undefined || kind === KIND;
}

/** The stored document without its optional `kind` marker, which the (strict) refill schema does not list. */
function withoutKind(definition: unknown): unknown {
  if (!ownsRefill(definition) || !('kind' in (definition as object))) return definition;
  const { kind: _kind, ...rest } = definition as Record<string, unknown>;
  return rest;
}

const RefillDefinitionSchema = z.preprocess(withoutKind, ProtocolDefinitionSchema) as unknown as z.ZodType<
  ProtocolDefinition,
  unknown
>;

/** Where each refill disposition goes, as rules/lifecycle routes it (the pool comes from the protocol's `routeTo`). */
const dispositions: Record<TriageDecision['disposition'], DispositionRoute> = {
  approve: {
    queue: routeDisposition('approve', null).queue,
    closes: false,
    description: 'Approved per protocol: pended in the EHR for one-click signing by a doctor',
  },
  needs_visit: {
    queue: routeDisposition('needs_visit', null).queue,
    closes: false,
    description: 'The patient needs a visit before a refill: the nurse queue',
  },
  nurse_review: {
    queue: routeDisposition('nurse_review', null).queue,
    closes: false,
    description: 'A nurse reviews it (pool from the protocol)',
  },
  doctor_review: {
    queue: routeDisposition('doctor_review', null).queue,
    closes: false,
    description: 'A doctor reviews it (pool from the protocol); also where "unclear" goes',
  },
};

const LABELS: Record<(typeof CLINICIAN_ACTIONS)[number], string> = {
  approve: 'Approve',
  deny: 'Deny',
  needs_visit: 'Needs visit',
  escalate: 'Escalate to doctor',
};

/** The clinician actions, with the queues that offer each and the roles those queues allow (rules/lifecycle). */
const actions: KindAction[] = CLINICIAN_ACTIONS.map((id) => {
  const queues = QUEUES.filter((q) => QUEUE_ACTIONS[q].includes(id));
  const roles = [...new Set(queues.flatMap((q) => QUEUE_ROLES[q]))];
  return { id, label: LABELS[id], roles, queues: queues };
});

export const refillKind: KindDeclaration<ProtocolDefinition, RefillFacts, TriageDecision> = {
  id: KIND,
  title: 'Refill triage',
  subject: 'prescription',
  triggers: ['refill.requested'],
  dispositions,
  actions,
  workflowType: 'refillTriage',
  definitionSchema: RefillDefinitionSchema,
  factsSchema: RefillFactsSchema,
  decisionSchema: TriageDecisionSchema,
  owns: ownsRefill,
  evaluate: evaluateProtocol,
  summarize: (d) => ({
    disposition: d.disposition,
    clause: null,
    findings: d.criteria.map((c) => ({ id: c.id, passed: c.passed })),
  }),
  diff: diffProtocols,
  // The compiled evaluator (decisions identical to json-rules-engine: test/rules/compile.test.ts), ~70× faster.
  simulateRecorded: (snapshots, definition, range, opts) =>
    simulateRecorded(snapshots, definition, range, {
      ...(opts.maxChanged !== undefined && { maxChanged: opts.maxChanged }),
      ...(opts.onPage && { onPage: opts.onPage }),
    }),
};

/** The built-in refill protocols (rules/kinds/refill/protocols/), published at first start. */
export const REFILL_BUILTINS: readonly ProtocolDefinition[] = BUILTIN_PROTOCOLS;
