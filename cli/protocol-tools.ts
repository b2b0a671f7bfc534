// What the protocol commands (`evaluate`, `protocols`) share with the kinds' own CLI parts (cli/kinds/): reading
// protocol files, the built-in protocols of every kind (the kinds registry), the simulation report's shape and the
// range of a clinic's recorded cases.
import { readFile } from 'node:fs/promises';
import type { KindSimulation, RecordedRange } from '../rules/engine/simulate-kind.ts';
import type { ProtocolIssue } from '../rules/index.ts';
import { BUILTIN_DEFINITIONS, validateAnyProtocol, type AnyKind, type KindId } from '../rules/kinds/index.ts';
import { UsageError } from './io.ts';

/** A document that did not validate: its problems are the command's output, exit code 1. */
export class InvalidProtocolError extends Error {
  constructor(
    readonly file: string,
    readonly issues: ProtocolIssue[],
  ) {
    super(`${file} is not a valid protocol`);
  }
}

const oneLine = (text: string): string => text.replace(/\s+/g, ' ').trim();

/** Reads and parses a JSON file (`what` names it in the message: `bundle `), or says in one line why not. */
export async function readJson(file: string, what = ''): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read ${what}${file}${code ? ` (${code})` : ''}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new UsageError(`${what}${file} is not valid JSON: ${oneLine(e instanceof Error ? e.message : String(e))}`);
  }
}

/** Every problem of a document of any kind, `[]` when it is a valid protocol. */
export function checkDocument(doc: unknown): ProtocolIssue[] {
  return validateAnyProtocol(doc);
}

/** `id`, or `id@version`. */
export function parseProtocolRef(ref: string): { id: string; version?: number } {
  const m = /^([A-Za-z0-9][A-Za-z0-9._-]*?)(?:@([1-9][0-9]{0,8}))?$/.exec(ref);
  if (!m?.[1]) throw new UsageError(`--against must be <protocolId> or <protocolId>@<version>, got "${ref}"`);
  return m[2] === undefined ? { id: m[1] } : { id: m[1], version: Number(m[2]) };
}

type BuiltinDefinition = (typeof BUILTIN_DEFINITIONS)[number];

/** A built-in protocol by id (of one kind, or of any): the given version, or the latest. */
export function findBuiltin(id: string, version?: number, kind?: KindId): BuiltinDefinition | undefined {
  return BUILTIN_DEFINITIONS.filter(
    (b) =>
      b.definition.id === id &&
      (version === undefined || b.definition.version === version) &&
      (kind === undefined || b.kind === kind),
  ).sort((a, b) => b.definition.version - a.definition.version)[0];
}

/** The ids of every built-in protocol of every kind, sorted. */
export function builtinIds(): string[] {
  return [...new Set(BUILTIN_DEFINITIONS.map((b) => b.definition.id))].sort();
}

/** A built-in protocol of `kind`, or a UsageError listing that kind's built-in versions. */
export function builtinOf(kind: AnyKind, ref: { id: string; version?: number }): BuiltinDefinition['definition'] {
  const found = findBuiltin(ref.id, ref.version, kind.id);
  if (!found) {
    const name = ref.version === undefined ? ref.id : `${ref.id}@${ref.version}`;
    const list = BUILTIN_DEFINITIONS.filter((b) => b.kind === kind.id)
      .map((b) => `${b.definition.id} v${b.definition.version}`)
      .join(', ');
    throw new UsageError(`no built-in protocol "${name}" (built in: ${list})`);
  }
  return found.definition;
}

/** Which of a clinic's recorded cases `simulate --clinic` replays: days are UTC, both inclusive. */
export interface ClinicSelection {
  clinic: string;
  from?: string | undefined;
  to?: string | undefined;
}

const startOfDayUtc = (day: string): string => `${day}T00:00:00.000Z`;
const startOfNextDayUtc = (day: string): string =>
  new Date(Date.parse(startOfDayUtc(day)) + 24 * 60 * 60 * 1000).toISOString();

/** The recorded cases of `protocolId` a clinic selection covers. */
export function clinicRange(o: ClinicSelection, protocolId: string): RecordedRange {
  return {
    clinicId: o.clinic,
    protocolId,
    ...(o.from !== undefined ? { from: startOfDayUtc(o.from) } : {}),
    ...(o.to !== undefined ? { before: startOfNextDayUtc(o.to) } : {}),
  };
}

/** Cases simulated per step: progress is reported between steps. */
export const STEP = 2000;

/** A finding whose pass/fail changed, with the sentence a nurse would read (empty when the kind has none). */
export interface ExplainedFlip {
  id: string;
  clause: string;
  before: boolean | null;
  after: boolean | null;
  explanation: string;
}

/** The simulation as printed by `--json`. */
export interface CliSimulationReport {
  protocol: { id: string; version: number; file: string };
  input:
    | { kind: 'clinic'; clinicId: string; from: string | null; to: string | null }
    | { kind: 'bundles'; dir: string; asOf: string };
  /** `recorded`: the decision recorded at the time; otherwise the protocol re-evaluated as the baseline. */
  baseline: { kind: 'recorded' } | { kind: 'protocol'; id: string; version: number };
  evaluated: number;
  /** Snapshots whose facts or decision no longer parse (recorded under an older schema). */
  skipped: number;
  before: KindSimulation['before'];
  after: KindSimulation['after'];
  changed: (Omit<KindSimulation['changed'][number], 'criteria'> & { criteria: ExplainedFlip[] })[];
}

/** What simulating some cases yields: the counts before and after, and the cases that changed. */
export type SimulatedCases = Pick<CliSimulationReport, 'evaluated' | 'before' | 'after' | 'changed'>;

/** What simulating a clinic's recorded cases yields. */
export type SimulatedClinic = SimulatedCases & Pick<CliSimulationReport, 'baseline' | 'skipped'>;
