/**
 * What a protocol **kind** declares (refill triage, care gap, …). A kind owns its triggers, its subject, its facts
 * schema and their extraction, its dispositions and routing, its write-backs, its clinician actions and how the console
 * renders its case. Everything else is engine, written once. Pure: no I/O, no node built-ins (the workflow sandbox
 * may import the types, the API and CLI the values).
 *
 * Layout of a kind `<k>` (one obvious place per layer):
 * - `rules/kinds/<k>/`: this declaration (`index.ts`), its facts and decision schemas, its protocol definition schema,
 *   its evaluator, built-in protocols and value sets (data files);
 * - `facts/<k>/`: which FHIR reads the kind needs and the pure FHIR-to-facts extraction (worker, API, CLI, sandbox);
 * - `activities/kinds/<k>/`: the kind's I/O (FHIR reads, write-backs), registered by `activities/kinds/index.ts`;
 * - `workflows/<k>.ts`: its workflow, exported by `workflows/index.ts`;
 * - `api/console/kinds/<k>.js`: how the console renders its case.
 */
import type { z } from 'zod';
import type { ProtocolDiff } from '../engine/diff.ts';
import type { KindSimulation, KindSimulationOptions, RecordedRange, SnapshotSource } from '../engine/simulate-kind.ts';

export type KindId = string;

/** What a case of this kind is about. */
export type KindSubject = 'prescription' | 'patient';

/**
 * A queue every kind may route to; `outreach` holds tracking items that need no decision yet, `cosign` orders a
 * standing order activated, awaiting a doctor's co-signature.
 */
export type KindQueue = 'signature' | 'nurse' | 'doctor' | 'outreach' | 'cosign';

export interface DispositionRoute {
  /** Null: no work item (and no Task) is created. */
  queue: KindQueue | null;
  /** Whether the protocol's own decision closes the case (no clinician needed). */
  closes: boolean;
  description: string;
}

export interface KindAction {
  id: string;
  label: string;
  /** Roles that may take it; the workflow's Update validator is the source of truth, the API prechecks the same. */
  roles: readonly string[];
  /** Queues whose items offer it. */
  queues: readonly KindQueue[];
}

/** One finding for display and diff: a clause or criterion with pass/fail and its evidence. */
export interface KindFinding {
  id: string;
  passed: boolean | null;
  /** The protocol clause the finding belongs to, when it is not the finding itself (a criterion of a clause). */
  clause?: string;
}

/**
 * What outcome analytics (rules/analytics/) reads of a kind's stored cases, declared so the engine never guesses a
 * kind's shapes. Every field is optional: a kind without one reports nothing of that sort.
 */
export interface KindAnalytics {
  /**
   * Where a case keeps what failed, in a form SQL reads without the kind's code: `{ decisionArray: key }`, a top-level
   * key of the stored decision holding an array of failed criterion ids; or `'clause'`, the case's deciding clause.
   */
  failedFindings?: { decisionArray: string } | 'clause';
  /** Per disposition, the case outcomes by which a clinician overrides what the protocol concluded. */
  overrides?: Readonly<Record<string, readonly string[]>>;
  /** Whether the kind's nurse-queue cases run the clinic's nurse SLA (escalated to a doctor when it runs out). */
  nurseSla?: boolean;
}

export interface KindDeclaration<Definition = unknown, Facts = unknown, Decision = unknown> {
  id: KindId;
  title: string;
  subject: KindSubject;
  /** Event types that start or touch a case of this kind (`refill.requested`, `appointment.booked`, `panel.sweep`, …). */
  triggers: readonly string[];
  dispositions: Readonly<Record<string, DispositionRoute>>;
  actions: readonly KindAction[];
  /**
   * Optional: the ids of the value sets this kind's extraction reads (kebab-case). A clinic may load its own full
   * expansion for each (`PUT /v1/clinics/{clinicId}/value-sets/{valueSetId}`, FHIR `ValueSet` JSON, stored by the
   * engine); the kind decides how a loaded expansion combines with its built-in set.
   */
  valueSets?: readonly string[];
  /** What outcome analytics reads of this kind's cases (failed findings, overrides, SLA). */
  analytics?: KindAnalytics;
  /** Workflow type (the function name exported by `workflows/index.ts`). */
  workflowType: string;
  /** The protocol definition schema of this kind (zod); `validate` reports issues by JSON path. */
  definitionSchema: z.ZodType<Definition>;
  factsSchema: z.ZodType<Facts>;
  decisionSchema: z.ZodType<Decision>;
  /** Whether a stored definition belongs to this kind (refill definitions predate `kind`). */
  owns(definition: unknown): boolean;
  evaluate(definition: Definition, facts: Facts): Promise<Decision>;
  /** The disposition and the findings a simulation diff compares. */
  summarize(decision: Decision): { disposition: string; clause: string | null; findings: KindFinding[] };
  /**
   * Optional: the dispositions a simulation counts as automated (its automation rate). Absent: those that create no
   * work item (`queue: null`).
   */
  automated?: readonly string[];
  /**
   * Optional accelerator: `definition` prepared once for evaluating many cases (compiled), whose decisions' summaries
   * equal `evaluate`'s on the same facts (tested). Simulation jobs and uploaded bundles use it. Absent: `evaluate`.
   */
  simulationEvaluator?(definition: Definition): (facts: Facts) => Decision | Promise<Decision>;
  /** Optional: how two versions differ, item by item. Absent: the engine's generic diff (`diffDefinitions`). */
  diff?(before: Definition, after: Definition): ProtocolDiff;
  /**
   * Optional accelerator: the simulation over recorded cases with a faster evaluator whose decisions equal
   * `evaluate`'s (tested). Absent: the engine replays with `evaluate` and compares with `summarize`.
   */
  simulateRecorded?(
    snapshots: SnapshotSource,
    definition: Definition,
    range: RecordedRange,
    opts: KindSimulationOptions,
  ): Promise<KindSimulation>;
}
