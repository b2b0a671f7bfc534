// `autopilot protocols validate|simulate|diff`: what a protocol author runs before asking for a publish, for a protocol
// of any kind. Same code as the admin API: the kinds registry (rules/kinds/: validateAnyProtocol, diffByKind), the
// engine's simulation (rules/engine/simulate-kind.ts) over a clinic's recorded facts snapshots or over FHIR Bundles
// read with the worker's fact extraction (the facts registry, facts/index.ts), and, where a kind brings its own
// (cli/kinds/: a baseline version, the sentence of each flipped criterion), the kind's simulation.
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { bundleExtraction, factsFromBundle } from '../facts/index.ts';
import { loadConfig } from '../connectors/config.ts';
import type { Store } from '../connectors/db/index.ts';
import type { ItemChange } from '../rules/engine/diff.ts';
import {
  addCounts,
  compareKindCases,
  kindEvaluator,
  kindSummary,
  simulateKindRecorded,
  type KindCase,
} from '../rules/engine/simulate-kind.ts';
import { diffByKind, KINDS, parseAnyProtocol, type AnyKind } from '../rules/kinds/index.ts';
import { AppError, IsoDateSchema, type ProtocolIssue } from '../rules/index.ts';
import { parseCommandLine, UsageError, type CliIo } from './io.ts';
import { kindCli } from './kinds/index.ts';
import {
  builtinOf,
  checkDocument,
  clinicRange,
  InvalidProtocolError,
  parseProtocolRef,
  readJson,
  STEP,
  type CliSimulationReport,
  type ClinicSelection,
  type SimulatedCases,
  type SimulatedClinic,
} from './protocol-tools.ts';

/** The kinds that simulate a clinic's recorded cases against a baseline version (`--against`). */
const againstKinds = (): string[] => KINDS.filter((k) => kindCli(k.id)?.simulateClinic).map((k) => k.id);

export const PROTOCOLS_USAGE = `Usage: autopilot protocols validate <file.json>
       autopilot protocols simulate <file.json> --clinic <id> [--from YYYY-MM-DD] [--to YYYY-MM-DD]
                                    [--against <protocolId>[@<version>]] [--json]
       autopilot protocols simulate <file.json> --bundles <dir> [--as-of YYYY-MM-DD] [--against <builtin id>] [--json]
       autopilot protocols diff <before.json> <after.json> [--json]

  validate   checks a protocol document of any kind; prints "valid: <id> v<version> (<summary>)" (what the kind
             counts, e.g. "<n> criteria, <m> routes", criteria counting guards and every category's criteria; else
             "kind <kind>"), or every problem as "<JSON path>: <sentence>"
  simulate   re-evaluates the protocol and compares with a baseline: counts per disposition and automation rate
             before → after, and every case whose disposition changed with the criteria that flipped
    --clinic <id>    the clinic's recorded facts snapshots in the app database (DATA_DIR / DATABASE_URL, as the
                     product reads them) of the baseline protocol's id; baseline = the decision recorded at the time
    --from, --to     recorded between these days (UTC, both inclusive)
    --bundles <dir>  every *.json FHIR Bundle in the folder (one case each, the input \`autopilot evaluate\` reads),
                     evaluated as of --as-of (default today, UTC); baseline = the built-in protocol with the same id
                     (latest version)
    --against <p>    re-evaluate this protocol as the baseline instead: with --clinic a stored version
                     (<id>@<version>, or <id> for the published one; built-ins too; ${againstKinds().join(', ')} protocols),
                     with --bundles a built-in of the same kind
    --json           print the machine-readable report
  diff       criterion-by-criterion changes from <before.json> to <after.json>

Exit codes: 0 done, 1 a protocol document is invalid (problems listed), 2 bad arguments or unreadable input.`;

// ---------------------------------------------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------------------------------------------

/** A protocol document: its kind and parsed definition. */
interface KindDocument {
  kind: AnyKind;
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

function dateOption(name: string, value: string | undefined): string | undefined {
  if (value !== undefined && !IsoDateSchema.safeParse(value).success) {
    throw new UsageError(`--${name} must be a date YYYY-MM-DD, got "${value}"`);
  }
  return value;
}

// ---------------------------------------------------------------------------------------------------------------
// Simulation
// ---------------------------------------------------------------------------------------------------------------

interface SimulateOptions {
  file: string;
  clinic?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  bundles?: string | undefined;
  asOf?: string | undefined;
  against?: string | undefined;
}

/** The engine's replay of a clinic's recorded cases with the kind's evaluator, against the recorded decisions. */
async function simulateClinicKind(
  store: Store,
  candidate: KindDocument,
  o: ClinicSelection,
  progress?: (text: string) => void,
): Promise<SimulatedClinic> {
  const { id } = candidate.definition;
  let pages = 0;
  const report = await simulateKindRecorded(candidate.kind, store.snapshots, candidate.definition, clinicRange(o, id), {
    onPage: () => progress?.(`simulated ${++pages} page(s)`),
  });
  progress?.('');
  return {
    baseline: { kind: 'recorded' },
    skipped: report.skipped,
    evaluated: report.evaluated,
    before: report.before,
    after: report.after,
    changed: report.changed
      .map((c) => ({ ...c, criteria: c.criteria.map((f) => ({ ...f, explanation: '' })) }))
      .reverse(),
  };
}

/** `simulate --clinic`: the clinic's recorded cases, with the kind's own simulation when it has one. */
async function simulateClinic(
  candidate: KindDocument,
  o: SimulateOptions & { clinic: string },
  progress?: (text: string) => void,
): Promise<CliSimulationReport> {
  const own = kindCli(candidate.kind.id)?.simulateClinic;
  if (o.against !== undefined && !own) {
    throw new UsageError(
      `--against is for ${againstKinds().join(', ')} protocols; a ${candidate.kind.id} protocol is compared with the recorded decisions`,
    );
  }
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
    const { id, version } = candidate.definition;
    const simulated = own
      ? await own(store, candidate.definition, o, progress)
      : await simulateClinicKind(store, candidate, o, progress);
    return {
      protocol: { id, version, file: o.file },
      input: { kind: 'clinic', clinicId: o.clinic, from: o.from ?? null, to: o.to ?? null },
      ...simulated,
    };
  } finally {
    await db.close();
  }
}

/** The engine's comparison of cases of one kind, in steps with progress between them (no sentences). */
async function compareInSteps(
  kind: AnyKind,
  definition: unknown,
  cases: readonly KindCase[],
  progress?: (text: string) => void,
): Promise<SimulatedCases> {
  const evaluate = kindEvaluator(kind, definition);
  const before: Record<string, number> = {};
  const after: Record<string, number> = {};
  const changed: CliSimulationReport['changed'] = [];
  for (let start = 0; start < cases.length; start += STEP) {
    const step = cases.slice(start, start + STEP);
    const compared = await compareKindCases(kind, evaluate, step);
    addCounts(before, compared.before);
    addCounts(after, compared.after);
    changed.push(
      ...compared.changed.map((c) => ({ ...c, criteria: c.criteria.map((f) => ({ ...f, explanation: '' })) })),
    );
    progress?.(`simulated ${start + step.length}/${cases.length} cases, ${changed.length} changed`);
  }
  progress?.('');
  return {
    evaluated: cases.length,
    before: kindSummary(kind, before, cases.length),
    after: kindSummary(kind, after, cases.length),
    changed,
  };
}

/**
 * `simulate --bundles`: each bundle's facts by the kind's extraction (the facts registry), decided by the baseline
 * built-in, then compared with the candidate (the kind's own comparison when it has one).
 */
async function simulateBundles(
  candidate: KindDocument,
  o: SimulateOptions & { bundles: string; asOf: string },
  progress?: (text: string) => void,
): Promise<CliSimulationReport> {
  const { kind, definition } = candidate;
  if (!bundleExtraction(kind.id)) {
    throw new UsageError(`--bundles: protocols of kind ${kind.id} cannot read FHIR Bundles; simulate with --clinic`);
  }
  const baseline = builtinOf(kind, o.against === undefined ? { id: definition.id } : parseProtocolRef(o.against));
  let names: string[];
  try {
    names = (await readdir(o.bundles)).filter((n) => n.endsWith('.json')).sort();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read folder ${o.bundles}${code ? ` (${code})` : ''}`);
  }
  if (!names.length) throw new UsageError(`no .json files in ${o.bundles}`);
  const cases: KindCase[] = [];
  for (const name of names) {
    const file = join(o.bundles, name);
    const json = await readJson(file, 'bundle ');
    let facts: unknown;
    try {
      facts = factsFromBundle(kind.id, json, { asOf: o.asOf });
    } catch (e) {
      if (e instanceof AppError && e.code === 'INVALID_INPUT')
        throw new UsageError(`invalid bundle ${file}: ${e.message}`);
      throw e;
    }
    const decision: unknown = await kind.evaluate(baseline, facts);
    cases.push({ caseId: basename(name, '.json'), recordedAt: o.asOf, facts, decision });
  }
  const own = kindCli(kind.id)?.simulateCases;
  return {
    protocol: { id: definition.id, version: definition.version, file: o.file },
    input: { kind: 'bundles', dir: o.bundles, asOf: o.asOf },
    baseline: { kind: 'protocol', id: baseline.id, version: baseline.version },
    skipped: 0,
    ...(own ? await own(definition, cases, progress) : await compareInSteps(kind, definition, cases, progress)),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------------------------

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

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
  return parseCommandLine({
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
        const { kind, definition } = parseAnyProtocol(doc) as KindDocument;
        // The kind's own summary (criteria and routes counted), else its id.
        const summary = kindCli(kind.id)?.describe?.(definition) ?? `kind ${kind.id}`;
        io.stdout(`valid: ${definition.id} v${definition.version} (${summary})\n`);
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
          report = await simulateClinic(await loadAnyProtocolFile(file), { ...o, clinic: o.clinic }, io.progress);
        } else {
          onlyOptions(values, ['bundles', 'as-of', 'against', 'json'], 'simulate --bundles');
          report = await simulateBundles(
            await loadAnyProtocolFile(file),
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
