// `autopilot protocols validate|simulate|diff`: what a protocol author runs before asking for a publish, for a protocol
// of any kind. Same code as the admin API: the kinds registry (rules/kinds/: validateAnyProtocol, diffByKind),
// simulateRecorded for a clinic's recorded cases (the API's paging and stepping over the app database's facts
// snapshots; simulateKindRecorded for kinds without a compiled path), simulateCompiled (rules/engine), and the
// worker's fact extraction (facts/) for FHIR Bundles.
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { extractRefillFacts, patientRecordFromBundle } from '../facts/refill/index.ts';
import { loadConfig } from '../connectors/config.ts';
import type { Store } from '../connectors/db/index.ts';
import type { ItemChange } from '../rules/engine/diff.ts';
import { evaluateProtocol } from '../rules/kinds/refill/evaluate.ts';
import type { ChangedCase, DispositionSummary, RecordedCase } from '../rules/kinds/refill/simulate.ts';
import { simulateCompiled, type SimulationCase } from '../rules/kinds/refill/simulate-compiled.ts';
import { simulateRecorded } from '../rules/kinds/refill/simulate-recorded.ts';
import {
  simulateKindRecorded,
  type KindChangedCase,
  type KindDispositionSummary,
} from '../rules/engine/simulate-kind.ts';
import { DEFAULT_KIND, diffByKind, kindOf, parseAnyProtocol, validateAnyProtocol } from '../rules/kinds/index.ts';
import { AppError, IsoDateSchema, type ProtocolIssue } from '../rules/index.ts';
import { DispositionSchema, type Disposition, type TriageDecision } from '../rules/kinds/refill/decision.ts';
import { parseProtocol, type ProtocolDefinition } from '../rules/kinds/refill/protocol.ts';
import { BUILTIN_PROTOCOLS, findBuiltinProtocol } from '../rules/kinds/refill/protocols/index.ts';
import { UsageError, type CliIo } from './io.ts';

export const PROTOCOLS_USAGE = `Usage: autopilot protocols validate <file.json>
       autopilot protocols simulate <file.json> --clinic <id> [--from YYYY-MM-DD] [--to YYYY-MM-DD]
                                    [--against <protocolId>[@<version>]] [--json]
       autopilot protocols simulate <file.json> --bundles <dir> [--as-of YYYY-MM-DD] [--against <builtin id>] [--json]
       autopilot protocols diff <before.json> <after.json> [--json]

  validate   checks a protocol document; prints "valid: <id> v<version> (<n> criteria, <m> routes)" (criteria
             counts guards and every category's criteria), or every problem as "<JSON path>: <sentence>"
  simulate   re-evaluates the protocol and compares with a baseline: counts per disposition and automation rate
             before → after, and every case whose disposition changed with the criteria that flipped
    --clinic <id>    the clinic's recorded facts snapshots in the app database (DATA_DIR / DATABASE_URL, as the
                     product reads them) of the baseline protocol's id; baseline = the decision recorded at the time
    --from, --to     recorded between these days (UTC, both inclusive)
    --bundles <dir>  every *.json FHIR Bundle in the folder (the triage input shape), triaged as of --as-of
                     (default today, UTC); baseline = the built-in protocol with the same id (latest version)
    --against <p>    re-evaluate this protocol as the baseline instead: with --clinic a stored version
                     (<id>@<version>, or <id> for the published one; built-ins too), with --bundles a built-in
    --json           print the machine-readable report
  diff       criterion-by-criterion changes from <before.json> to <after.json>

Exit codes: 0 done, 1 a protocol document is invalid (problems listed), 2 bad arguments or unreadable input.`;

/** A document that did not validate: its problems are the command's output, exit code 1. */
class InvalidProtocolError extends Error {
  constructor(
    readonly file: string,
    readonly issues: ProtocolIssue[],
  ) {
    super(`${file} is not a valid protocol`);
  }
}

/** A criterion whose pass/fail changed, with the sentence a nurse would read (after the change when evaluated). */
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
  before: KindDispositionSummary;
  after: KindDispositionSummary;
  changed: (Omit<KindChangedCase, 'criteria'> & { criteria: ExplainedFlip[] })[];
}

// ---------------------------------------------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------------------------------------------

const oneLine = (text: string): string => text.replace(/\s+/g, ' ').trim();

async function readJson(file: string, what = ''): Promise<unknown> {
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
function checkDocument(doc: unknown): ProtocolIssue[] {
  return validateAnyProtocol(doc);
}

/** A protocol document of a kind other than the default one: its kind and parsed definition. */
interface KindDocument {
  kind: ReturnType<typeof parseAnyProtocol>['kind'];
  definition: { id: string; version: number };
}

/** Reads and validates a protocol file of any kind. @throws UsageError, InvalidProtocolError. */
async function loadAnyProtocolFile(file: string): Promise<KindDocument> {
  const doc = await readJson(file);
  const issues = checkDocument(doc);
  if (issues.length) throw new InvalidProtocolError(file, issues);
  const { kind, definition } = parseAnyProtocol(doc);
  return { kind, definition: definition as KindDocument['definition'] };
}

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

const criteriaCount = (p: ProtocolDefinition): number =>
  p.guards.length + p.categories.reduce((n, c) => n + c.criteria.length, 0);

function dateOption(name: string, value: string | undefined): string | undefined {
  if (value !== undefined && !IsoDateSchema.safeParse(value).success) {
    throw new UsageError(`--${name} must be a date YYYY-MM-DD, got "${value}"`);
  }
  return value;
}

const startOfDayUtc = (day: string): string => `${day}T00:00:00.000Z`;
const startOfNextDayUtc = (day: string): string =>
  new Date(Date.parse(startOfDayUtc(day)) + 24 * 60 * 60 * 1000).toISOString();

/** `id`, or `id@version`. */
function parseProtocolRef(ref: string): { id: string; version?: number } {
  const m = /^([A-Za-z0-9][A-Za-z0-9._-]*?)(?:@([1-9][0-9]{0,8}))?$/.exec(ref);
  if (!m?.[1]) throw new UsageError(`--against must be <protocolId> or <protocolId>@<version>, got "${ref}"`);
  return m[2] === undefined ? { id: m[1] } : { id: m[1], version: Number(m[2]) };
}

const builtinList = (): string => BUILTIN_PROTOCOLS.map((p) => `${p.id} v${p.version}`).join(', ');

function builtin(ref: { id: string; version?: number }): ProtocolDefinition {
  const p = findBuiltinProtocol(ref.id, ref.version);
  if (!p) {
    const name = ref.version === undefined ? ref.id : `${ref.id}@${ref.version}`;
    throw new UsageError(`no built-in protocol "${name}" (built in: ${builtinList()})`);
  }
  return p;
}

// ---------------------------------------------------------------------------------------------------------------
// Simulation
// ---------------------------------------------------------------------------------------------------------------

/** A stored version as a runnable protocol (its row's id/version win over the document's), else a built-in one. */
async function storedOrBuiltin(store: Store, ref: { id: string; version?: number }): Promise<ProtocolDefinition> {
  const row =
    ref.version === undefined
      ? await store.protocols.getPublished(ref.id)
      : await store.protocols.getVersion(ref.id, ref.version);
  if (!row) return builtin(ref);
  const doc =
    typeof row.definition === 'object' && row.definition !== null && !Array.isArray(row.definition)
      ? { ...row.definition, id: row.protocolId, version: row.version }
      : row.definition;
  const issues = checkDocument(doc);
  if (issues.length) throw new InvalidProtocolError(`stored ${row.protocolId}@${row.version}`, issues);
  return parseProtocol(doc);
}

/** Cases simulated per step: progress is reported between steps. */
const STEP = 2000;

function summarise(counts: Record<Disposition, number>): DispositionSummary {
  const total = Object.values(counts).reduce((n, c) => n + c, 0);
  return { counts, automationRate: total ? counts.approve / total : null };
}

const addCounts = (a: Record<Disposition, number>, b: Record<Disposition, number>): Record<Disposition, number> =>
  Object.fromEntries(DispositionSchema.options.map((d) => [d, a[d] + b[d]])) as Record<Disposition, number>;

/**
 * Adds, to each criterion that flipped, the sentence explaining it (from the candidate's decision where the criterion
 * was evaluated, else from the baseline's): the simulation reports ids only.
 */
async function explainFlips(
  candidate: ProtocolDefinition,
  cases: readonly SimulationCase[],
  changed: readonly ChangedCase[],
): Promise<CliSimulationReport['changed']> {
  const sentence = (d: Pick<TriageDecision, 'criteria'> | undefined, id: string) =>
    d?.criteria.find((x) => x.id === id)?.explanation;
  // Parsed snapshots, rebased cases or bundles: full RecordedCases, whose criteria carry their sentences.
  const byId = new Map(cases.map((c) => [c.caseId, c as RecordedCase]));
  const out: CliSimulationReport['changed'] = [];
  for (const ch of changed) {
    const c = byId.get(ch.caseId);
    const now = c ? await evaluateProtocol(candidate, c.facts) : undefined;
    out.push({
      ...ch,
      criteria: ch.criteria.map((f) => ({
        ...f,
        explanation: (f.after !== null ? sentence(now, f.id) : sentence(c?.decision, f.id)) ?? '',
      })),
    });
  }
  return out;
}

/** Runs the simulation over in-memory cases in steps, reporting progress between them. */
async function explainedSimulation(
  candidate: ProtocolDefinition,
  cases: RecordedCase[],
  progress?: (text: string) => void,
): Promise<Pick<CliSimulationReport, 'evaluated' | 'before' | 'after' | 'changed'>> {
  const zero = Object.fromEntries(DispositionSchema.options.map((d) => [d, 0])) as Record<Disposition, number>;
  let before = zero;
  let after = zero;
  const changed: CliSimulationReport['changed'] = [];
  for (let start = 0; start < cases.length; start += STEP) {
    const step = cases.slice(start, start + STEP);
    const report = simulateCompiled(candidate, step);
    before = addCounts(before, report.before.counts);
    after = addCounts(after, report.after.counts);
    changed.push(...(await explainFlips(candidate, step, report.changed)));
    progress?.(`simulated ${start + step.length}/${cases.length} cases, ${changed.length} changed`);
  }
  progress?.('');
  return { evaluated: cases.length, before: summarise(before), after: summarise(after), changed };
}

interface SimulateOptions {
  file: string;
  clinic?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  bundles?: string | undefined;
  asOf?: string | undefined;
  against?: string | undefined;
}

async function simulateClinic(
  candidate: ProtocolDefinition,
  o: SimulateOptions & { clinic: string },
  progress?: (text: string) => void,
): Promise<CliSimulationReport> {
  const config = loadConfig();
  if (config.DATABASE_URL === undefined && !existsSync(join(config.DATA_DIR, 'app.db'))) {
    throw new UsageError(`no app database at ${join(config.DATA_DIR, 'app.db')} (set DATA_DIR, or DATABASE_URL)`);
  }
  // Loaded here, not at the top: the database drivers are only for --clinic and would slow every other command.
  const { createStore, openDatabase } = await import('../connectors/db/index.ts');
  const db = await openDatabase({ databaseUrl: config.DATABASE_URL, dataDir: config.DATA_DIR }).catch((e: unknown) => {
    // The driver's code only: its message may carry connection details.
    const code = typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : undefined;
    throw new UsageError(`cannot open the app database${code ? ` (${code})` : ''}`);
  });
  try {
    const store = createStore(db);
    if (!(await store.clinics.get(o.clinic))) throw new UsageError(`no clinic "${o.clinic}" in the app database`);
    const baseline = o.against === undefined ? undefined : await storedOrBuiltin(store, parseProtocolRef(o.against));
    const range = {
      clinicId: o.clinic,
      protocolId: baseline?.id ?? candidate.id,
      ...(o.from !== undefined ? { from: startOfDayUtc(o.from) } : {}),
      ...(o.to !== undefined ? { before: startOfNextDayUtc(o.to) } : {}),
    };
    const total = await store.snapshots.count(range);
    // The API's simulation (rules/engine/simulate-recorded.ts), plus the sentence explaining each flipped criterion.
    const explained: CliSimulationReport['changed'] = [];
    const report = await simulateRecorded(store.snapshots, candidate, range, {
      ...(baseline ? { baseline } : {}),
      onPage: async ({ cases, changed, read }) => {
        explained.push(...(await explainFlips(candidate, cases, changed)));
        progress?.(`simulated ${read}/${total} cases, ${explained.length} changed`);
      },
    });
    progress?.('');
    return {
      protocol: { id: candidate.id, version: candidate.version, file: o.file },
      input: { kind: 'clinic', clinicId: o.clinic, from: o.from ?? null, to: o.to ?? null },
      baseline: baseline ? { kind: 'protocol', id: baseline.id, version: baseline.version } : { kind: 'recorded' },
      skipped: report.skipped,
      evaluated: report.evaluated,
      before: report.before,
      after: report.after,
      changed: explained.reverse(), // oldest first
    };
  } finally {
    await db.close();
  }
}

/** `simulate --clinic` for a protocol of another kind than the default: its recorded cases, with its evaluator. */
async function simulateClinicKind(
  candidate: KindDocument,
  o: SimulateOptions & { clinic: string },
  progress?: (text: string) => void,
): Promise<CliSimulationReport> {
  if (o.against !== undefined) {
    throw new UsageError(
      `--against is for ${DEFAULT_KIND.id} protocols; a ${candidate.kind.id} protocol is compared with the recorded decisions`,
    );
  }
  const config = loadConfig();
  if (config.DATABASE_URL === undefined && !existsSync(join(config.DATA_DIR, 'app.db'))) {
    throw new UsageError(`no app database at ${join(config.DATA_DIR, 'app.db')} (set DATA_DIR, or DATABASE_URL)`);
  }
  const { createStore, openDatabase } = await import('../connectors/db/index.ts');
  const db = await openDatabase({ databaseUrl: config.DATABASE_URL, dataDir: config.DATA_DIR }).catch((e: unknown) => {
    const code = typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : undefined;
    throw new UsageError(`cannot open the app database${code ? ` (${code})` : ''}`);
  });
  try {
    const store = createStore(db);
    if (!(await store.clinics.get(o.clinic))) throw new UsageError(`no clinic "${o.clinic}" in the app database`);
    const { id, version } = candidate.definition;
    const range = {
      clinicId: o.clinic,
      protocolId: id,
      ...(o.from !== undefined ? { from: startOfDayUtc(o.from) } : {}),
      ...(o.to !== undefined ? { before: startOfNextDayUtc(o.to) } : {}),
    };
    let pages = 0;
    const report = await simulateKindRecorded(candidate.kind, store.snapshots, candidate.definition, range, {
      onPage: () => progress?.(`simulated ${++pages} page(s)`),
    });
    progress?.('');
    return {
      protocol: { id, version, file: o.file },
      input: { kind: 'clinic', clinicId: o.clinic, from: o.from ?? null, to: o.to ?? null },
      baseline: { kind: 'recorded' },
      skipped: report.skipped,
      evaluated: report.evaluated,
      before: report.before,
      after: report.after,
      changed: report.changed
        .map((c) => ({ ...c, criteria: c.criteria.map((f) => ({ ...f, explanation: '' })) }))
        .reverse(),
    };
  } finally {
    await db.close();
  }
}

async function simulateBundles(
  candidate: ProtocolDefinition,
  o: SimulateOptions & { bundles: string; asOf: string },
  progress?: (text: string) => void,
): Promise<CliSimulationReport> {
  const baseline = builtin(o.against === undefined ? { id: candidate.id } : parseProtocolRef(o.against));
  let names: string[];
  try {
    names = (await readdir(o.bundles)).filter((n) => n.endsWith('.json')).sort();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read folder ${o.bundles}${code ? ` (${code})` : ''}`);
  }
  if (!names.length) throw new UsageError(`no .json files in ${o.bundles}`);
  const cases: RecordedCase[] = [];
  for (const name of names) {
    const file = join(o.bundles, name);
    const json = await readJson(file, 'bundle ');
    let facts;
    try {
      facts = extractRefillFacts(patientRecordFromBundle(json), { asOf: o.asOf });
    } catch (e) {
      if (e instanceof AppError && e.code === 'INVALID_INPUT')
        throw new UsageError(`invalid bundle ${file}: ${e.message}`);
      throw e;
    }
    const decision = await evaluateProtocol(baseline, facts);
    cases.push({ caseId: basename(name, '.json'), recordedAt: o.asOf, facts, decision });
  }
  return {
    protocol: { id: candidate.id, version: candidate.version, file: o.file },
    input: { kind: 'bundles', dir: o.bundles, asOf: o.asOf },
    baseline: { kind: 'protocol', id: baseline.id, version: baseline.version },
    skipped: 0,
    ...(await explainedSimulation(candidate, cases, progress)),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------------------------

const percent = (rate: number | null): string => (rate === null ? 'n/a' : `${(rate * 100).toFixed(1)}%`);
const verdict = (passed: boolean | null): string => (passed === null ? 'not evaluated' : passed ? 'passed' : 'failed');

/** The human-readable simulation report. */
export function formatSimulation(r: CliSimulationReport): string {
  const lines: string[] = [];
  const source =
    r.input.kind === 'clinic'
      ? `clinic ${r.input.clinicId}, recorded ${r.input.from ?? 'any time'} to ${r.input.to ?? 'now'}`
      : `bundles in ${r.input.dir}, as of ${r.input.asOf}`;
  lines.push(`Simulated ${r.protocol.id} v${r.protocol.version} (${r.protocol.file}) on ${source}`);
  lines.push(
    `Baseline: ${r.baseline.kind === 'recorded' ? 'the decisions recorded at the time' : `${r.baseline.id} v${r.baseline.version}`}`,
  );
  lines.push(
    `Cases: ${r.evaluated}${r.skipped ? ` (${plural(r.skipped, 'snapshot', 'snapshots')} skipped: recorded under an older schema)` : ''}`,
  );
  lines.push('');
  // The dispositions of the protocol's kind, in its order (the counts list every one of them).
  const dispositions = [...new Set([...Object.keys(r.before.counts), ...Object.keys(r.after.counts)])];
  const width = Math.max(...dispositions.map((d) => d.length), 'automation rate'.length);
  const numWidth = Math.max(
    6,
    ...dispositions.map((d) => String(Math.max(r.before.counts[d] ?? 0, r.after.counts[d] ?? 0)).length),
  );
  lines.push(`${'disposition'.padEnd(width)}  ${'before'.padStart(numWidth)} → after`);
  for (const d of dispositions) {
    const b = r.before.counts[d] ?? 0;
    const a = r.after.counts[d] ?? 0;
    const delta = a === b ? '' : `  (${a > b ? '+' : ''}${a - b})`;
    lines.push(`${d.padEnd(width)}  ${String(b).padStart(numWidth)} → ${a}${delta}`);
  }
  lines.push(
    `${'automation rate'.padEnd(width)}  ${percent(r.before.automationRate).padStart(numWidth)} → ${percent(r.after.automationRate)}`,
  );
  lines.push('');
  if (!r.changed.length) {
    lines.push('No case changes disposition.');
  } else {
    lines.push(`${r.changed.length === 1 ? '1 case changes' : `${r.changed.length} cases change`} disposition:`);
    for (const c of r.changed) {
      const clause = (x: { clause?: string | null }) => (x.clause ? ` (${x.clause})` : '');
      lines.push(
        `  ${c.caseId}: ${c.before.disposition}${clause(c.before)} → ${c.after.disposition}${clause(c.after)}`,
      );
      for (const f of c.criteria) {
        lines.push(`    ${f.id} (${f.clause}): ${verdict(f.before)} → ${verdict(f.after)}`);
        if (f.explanation) lines.push(`      ${f.explanation}`);
      }
    }
  }
  return `${lines.join('\n')}\n`;
}

const show = (v: unknown): string => (v === undefined ? '(absent)' : JSON.stringify(v));

function itemName(c: ItemChange): string {
  const within = c.category ?? c.collection;
  return `${c.kind} ${within ? `${within}/` : ''}${c.id}`;
}

/** The human-readable protocol diff: one block per added, removed or changed item, one line per changed field. */
export function formatDiff(
  a: { id: string; version: number },
  b: { id: string; version: number },
  changes: readonly ItemChange[],
): string {
  const lines = [`${a.id} v${a.version} → ${b.id} v${b.version}`];
  if (!changes.length) return `${lines[0]}: no differences\n`;
  const count = (k: ItemChange['change']) => changes.filter((c) => c.change === k).length;
  lines[0] += `: ${count('changed')} changed, ${count('added')} added, ${count('removed')} removed`;
  for (const c of changes) {
    if (c.change === 'changed') {
      lines.push(`~ ${itemName(c)}`);
      for (const f of c.fields ?? []) lines.push(`    ${f.path}: ${show(f.before)} → ${show(f.after)}`);
    } else {
      lines.push(`${c.change === 'added' ? '+' : '-'} ${itemName(c)} (${c.change})`);
    }
  }
  return `${lines.join('\n')}\n`;
}

function formatIssues(issues: readonly ProtocolIssue[]): string {
  return issues.map((i) => `${i.path}: ${i.message}\n`).join('');
}

// ---------------------------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------------------------

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        clinic: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        bundles: { type: 'string' },
        'as-of': { type: 'string' },
        against: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
}

function onlyOptions(values: Record<string, unknown>, allowed: readonly string[], command: string): void {
  const extra = Object.keys(values).filter((k) => values[k] !== undefined && !allowed.includes(k));
  if (extra.length) throw new UsageError(`protocols ${command} does not take --${extra.join(', --')}`);
}

/**
 * `autopilot protocols …`: validate, simulate or diff protocol documents; returns the exit code (0 done, 1 invalid
 * protocol, 2 bad arguments or input). Exists so a protocol author can check an edit against real traffic from a
 * terminal, with the same evaluator and the same recorded cases as the admin API.
 */
export async function runProtocolsCli(argv: string[], io: CliIo): Promise<number> {
  try {
    const { values, positionals } = parse(argv);
    if (values.help) {
      io.stdout(`${PROTOCOLS_USAGE}\n`);
      return 0;
    }
    const [command, ...files] = positionals;
    switch (command) {
      case 'validate': {
        onlyOptions(values, [], command);
        if (files.length !== 1 || !files[0]) throw new UsageError('usage: autopilot protocols validate <file.json>');
        const doc = await readJson(files[0]);
        const issues = checkDocument(doc);
        if (issues.length) {
          io.stdout(formatIssues(issues));
          return 1;
        }
        if (kindOf(doc) !== DEFAULT_KIND) {
          const { kind, definition } = parseAnyProtocol(doc) as {
            kind: KindDocument['kind'];
            definition: KindDocument['definition'];
          };
          io.stdout(`valid: ${definition.id} v${definition.version} (kind ${kind.id})\n`);
          return 0;
        }
        const p = parseProtocol(doc);
        io.stdout(
          `valid: ${p.id} v${p.version} (${plural(criteriaCount(p), 'criterion', 'criteria')}, ${plural(p.routes.length, 'route', 'routes')})\n`,
        );
        return 0;
      }
      case 'diff': {
        onlyOptions(values, ['json'], command);
        if (files.length !== 2 || !files[0] || !files[1]) {
          throw new UsageError('usage: autopilot protocols diff <before.json> <after.json>');
        }
        const [{ kind, definition: a }, { kind: kindB, definition: b }] = [
          await loadAnyProtocolFile(files[0]),
          await loadAnyProtocolFile(files[1]),
        ];
        if (kind !== kindB) throw new UsageError(`cannot diff a ${kind.id} protocol with a ${kindB.id} protocol`);
        const diff = diffByKind(kind, a, b);
        io.stdout(
          values.json
            ? `${JSON.stringify({ before: { id: a.id, version: a.version }, after: { id: b.id, version: b.version }, ...diff }, null, 2)}\n`
            : formatDiff(a, b, diff.changes),
        );
        return 0;
      }
      case 'simulate': {
        if (files.length !== 1 || !files[0]) {
          throw new UsageError('usage: autopilot protocols simulate <file.json> (--clinic <id> | --bundles <dir>)');
        }
        const file = files[0];
        const o: SimulateOptions = {
          file,
          clinic: values.clinic,
          from: dateOption('from', values.from),
          to: dateOption('to', values.to),
          bundles: values.bundles,
          asOf: dateOption('as-of', values['as-of']),
          against: values.against,
        };
        if ((o.clinic === undefined) === (o.bundles === undefined)) {
          throw new UsageError('simulate needs exactly one of --clinic <id> and --bundles <dir>');
        }
        let report: CliSimulationReport;
        if (o.clinic !== undefined) {
          onlyOptions(values, ['clinic', 'from', 'to', 'against', 'json'], 'simulate --clinic');
          if (o.from !== undefined && o.to !== undefined && o.from > o.to) {
            throw new UsageError(`--from ${o.from} is after --to ${o.to}`);
          }
          const any = await loadAnyProtocolFile(file);
          report =
            any.kind === DEFAULT_KIND
              ? await simulateClinic(any.definition as ProtocolDefinition, { ...o, clinic: o.clinic }, io.progress)
              : await simulateClinicKind(any, { ...o, clinic: o.clinic }, io.progress);
        } else {
          onlyOptions(values, ['bundles', 'as-of', 'against', 'json'], 'simulate --bundles');
          const any = await loadAnyProtocolFile(file);
          if (any.kind !== DEFAULT_KIND) {
            throw new UsageError(
              `--bundles simulates ${DEFAULT_KIND.id} protocols; simulate a ${any.kind.id} protocol with --clinic`,
            );
          }
          const candidate = any.definition as ProtocolDefinition;
          report = await simulateBundles(
            candidate,
            { ...o, bundles: o.bundles!, asOf: o.asOf ?? io.today() },
            io.progress,
          );
        }
        io.stdout(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatSimulation(report));
        return 0;
      }
      case undefined:
        throw new UsageError('missing command: protocols validate | simulate | diff');
      default:
        throw new UsageError(`unknown command "protocols ${command}" (validate | simulate | diff)`);
    }
  } catch (e) {
    if (e instanceof InvalidProtocolError) {
      io.stderr(`autopilot: ${e.message}:\n${formatIssues(e.issues)}`);
      return 1;
    }
    if (e instanceof UsageError) {
      io.stderr(`autopilot: ${e.message}\n`);
      return 2;
    }
    if (e instanceof AppError && e.code === 'CONFIG_INVALID') {
      io.stderr(`autopilot: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}
