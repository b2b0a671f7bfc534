// The registry of protocol kinds: the ONE engine file that names them. Everything else (store, API, CLI, simulation,
// diff, seed, console) asks this registry which kind a definition is and calls the kind's declaration. Adding a kind
// adds its files (see rules/kinds/types.ts for the layout) and one line to each list below.
import { diffDefinitions, type ProtocolDiff } from '../engine/diff.ts';
import { AppError, jsonPath } from '../errors.ts';
import { MAX_PROTOCOL_DEPTH, nestedDeeperThan, type ProtocolIssue } from '../schema/protocol.ts';
import { CARE_GAP_BUILTINS, careGapKind } from './care-gap/index.ts';
import { REFILL_BUILTINS, refillKind } from './refill/index.ts';
import type { KindDeclaration, KindId } from './types.ts';

export type { DispositionRoute, KindAction, KindDeclaration, KindFinding, KindId, KindQueue } from './types.ts';

/** A kind whose definition, facts and decision types are not known statically (what the engine handles). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the engine handles every kind through this shape
export type AnyKind = KindDeclaration<any, any, any>;

/** Every kind this build knows, in display order. The first is the kind of a definition without `kind`. */
export const KINDS: readonly AnyKind[] = [refillKind, careGapKind];

/**
 * The kind of a definition without `kind` (every protocol before kinds). Simulation jobs and uploaded bundles still
 * run for this kind only.
 */
export const DEFAULT_KIND: AnyKind = KINDS[0]!;

/** Every built-in protocol version of every kind, published at first start (api/seed.ts). */
export const BUILTIN_DEFINITIONS: readonly {
  kind: KindId;
  definition: { id: string; version: number; title: string };
}[] = [
  ...REFILL_BUILTINS.map((definition) => ({ kind: refillKind.id, definition })),
  ...CARE_GAP_BUILTINS.map((definition) => ({ kind: careGapKind.id, definition })),
];

export const KIND_IDS: readonly KindId[] = KINDS.map((k) => k.id);

/** A kind by id; undefined when this build has no such kind. */
export function kindById(id: string): AnyKind | undefined {
  return KINDS.find((k) => k.id === id);
}

/** The kind a protocol definition belongs to (its `kind`, or none for the definitions that predate kinds); null: none. */
export function kindOf(definition: unknown): AnyKind | null {
  return KINDS.find((k) => k.owns(definition)) ?? null;
}

/** The issue for a definition no kind claims: an unknown `kind`, or not an object at all. */
function unclaimed(definition: unknown): ProtocolIssue {
  if (typeof definition !== 'object' || definition === null || Array.isArray(definition)) {
    return { path: '$', message: 'expected a protocol document (a JSON object)' };
  }
  return {
    path: '$.kind',
    message: `unknown protocol kind ${JSON.stringify((definition as { kind?: unknown }).kind)}; known: ${KIND_IDS.join(', ')}`,
  };
}

function issuesOf(
  definition: unknown,
  expected?: KindId,
): { issues: ProtocolIssue[]; kind: AnyKind | null; data?: unknown } {
  const kind = kindOf(definition);
  if (!kind) return { issues: [unclaimed(definition)], kind };
  if (expected !== undefined && kind.id !== expected) {
    return {
      issues: [
        {
          path: '$.kind',
          message: `this protocol is of kind ${expected}; a protocol's kind is fixed at creation (got ${kind.id})`,
        },
      ],
      kind,
    };
  }
  if (nestedDeeperThan(definition, MAX_PROTOCOL_DEPTH)) {
    return { issues: [{ path: '$', message: `nested deeper than ${MAX_PROTOCOL_DEPTH} levels` }], kind };
  }
  const result = kind.definitionSchema.safeParse(definition);
  return result.success
    ? { issues: [], kind, data: result.data }
    : { issues: result.error.issues.map((i) => ({ path: jsonPath(i.path), message: i.message })), kind };
}

/**
 * Validates a protocol definition of any kind and lists every problem with its JSON path; `[]` means valid. With
 * `expected`, a definition of another kind is one issue at `$.kind` (a stored protocol keeps the kind it was created
 * with).
 */
export function validateAnyProtocol(definition: unknown, expected?: KindId): ProtocolIssue[] {
  return issuesOf(definition, expected).issues;
}

/**
 * Parses a protocol definition of any kind with its kind's schema.
 *
 * @throws AppError `PROTOCOL_INVALID` with `issues` (path + message) when it does not validate.
 */
export function parseAnyProtocol(definition: unknown, expected?: KindId): { kind: AnyKind; definition: unknown } {
  const { issues, kind, data } = issuesOf(definition, expected);
  if (kind && issues.length === 0) return { kind, definition: data };
  throw protocolInvalid(issues);
}

/** The `PROTOCOL_INVALID` error for a list of issues (the first one in the message). */
export function protocolInvalid(issues: readonly ProtocolIssue[]): AppError {
  const first = issues[0];
  return new AppError(
    'PROTOCOL_INVALID',
    `protocol is invalid: ${first ? `${first.path}: ${first.message}` : 'unknown problem'}`,
    { issues: [...issues] },
  );
}

/** How two versions of a protocol of `kind` differ: the kind's own diff, else the engine's generic one. */
export function diffByKind(kind: AnyKind, before: unknown, after: unknown): ProtocolDiff {
  return kind.diff ? kind.diff(before, after) : diffDefinitions(before, after);
}

// The default kind's evaluator and compiled simulation, which the API's simulation jobs and uploaded bundles still call
// directly (they run for DEFAULT_KIND only, see above); the per-kind path is `simulateKindRecorded`.
export { evaluateProtocol as evaluateDefaultKind } from './refill/evaluate.ts';
export type { ProtocolDefinition as DefaultKindDefinition } from './refill/protocol.ts';
export type { ChangedCase } from './refill/simulate.ts';
export {
  addToTally,
  compileForSimulation,
  evaluateChunk,
  tallyFrom,
  tallySummary,
  type SimulationCase,
} from './refill/simulate-compiled.ts';
