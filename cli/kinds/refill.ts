// The refill kind's part of the CLI: `autopilot triage` (the refill CLI contract: the same code the worker runs,
// patientRecordFromBundle → extractRefillFacts → evaluateProtocol, without any server), the decision `evaluate`
// prints, the criteria and routes `protocols validate` counts, and its simulations, which compare with a baseline
// version (`--against`) and explain every flipped criterion with the sentence a nurse would read.
import { parseArgs } from 'node:util';
import type { Store } from '../../connectors/db/index.ts';
import { extractRefillFacts, patientRecordFromBundle } from '../../facts/refill/index.ts';
import { IsoDateSchema } from '../../rules/index.ts';
import { DispositionSchema, type Disposition, type TriageDecision } from '../../rules/kinds/refill/decision.ts';
import { evaluateProtocol } from '../../rules/kinds/refill/evaluate.ts';
import { refillKind } from '../../rules/kinds/refill/index.ts';
import { parseProtocol, type ProtocolDefinition } from '../../rules/kinds/refill/protocol.ts';
import { BUILTIN_PROTOCOLS, findBuiltinProtocol } from '../../rules/kinds/refill/protocols/index.ts';
import type { ChangedCase, DispositionSummary, RecordedCase } from '../../rules/kinds/refill/simulate.ts';
import { simulateCompiled, type SimulationCase } from '../../rules/kinds/refill/simulate-compiled.ts';
import { simulateRecorded } from '../../rules/kinds/refill/simulate-recorded.ts';
import { readJsonFile, UsageError, type CliIo } from '../io.ts';
import {
  builtinOf,
  checkDocument,
  clinicRange,
  InvalidProtocolError,
  parseProtocolRef,
  STEP,
  type CliSimulationReport,
  type SimulatedCases,
} from '../protocol-tools.ts';
import type { KindCli, KindCommand } from './types.ts';

const TRIAGE_USAGE = `Usage: autopilot triage --bundle <file.json> [--as-of YYYY-MM-DD] [--protocol <id>]

Triage one refill request with a built-in protocol and print the decision as JSON:
  { disposition, failedCriteria, approvedSupply, bridgeSupply, routeTo, actions, protocol }

  --bundle <file>     FHIR R4 Bundle holding the refill request (MedicationRequest, intent "proposal")
                      and the patient's record
  --as-of <date>      day of triage, YYYY-MM-DD (default: today, UTC)
  --protocol <id>     built-in protocol id, latest version (default: family-medicine-2015)
  -h, --help          show this help

Exit codes: 0 decided, 2 bad input (message on stderr).`;

/** The refill decision as `autopilot triage` and `autopilot evaluate` print it (one shape for both commands). */
function decisionOutput(d: TriageDecision): Record<string, unknown> {
  return {
    disposition: d.disposition,
    failedCriteria: d.failedCriteria,
    approvedSupply: d.approvedSupply,
    bridgeSupply: d.bridgeSupply,
    routeTo: d.routeTo,
    actions: d.actions,
    protocol: d.protocol,
  };
}

const TRIAGE_OPTIONS = {
  bundle: { type: 'string' },
  'as-of': { type: 'string' },
  protocol: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `autopilot triage --bundle <file.json> [--as-of YYYY-MM-DD] [--protocol <id>]`. */
const triage: KindCommand = {
  name: 'triage',
  usage: TRIAGE_USAGE,
  options: TRIAGE_OPTIONS,
  async run(argv: string[], io: CliIo): Promise<number> {
    let values;
    try {
      values = parseArgs({ args: argv, allowPositionals: true, strict: true, options: TRIAGE_OPTIONS }).values;
    } catch (e) {
      throw new UsageError(e instanceof Error ? e.message : String(e));
    }
    if (!values.bundle) throw new UsageError('--bundle <file.json> is required');
    const asOf = values['as-of'] ?? io.today();
    if (!IsoDateSchema.safeParse(asOf).success)
      throw new UsageError(`--as-of must be a date YYYY-MM-DD, got "${asOf}"`);
    const protocolId = values.protocol ?? 'family-medicine-2015';
    const protocol = findBuiltinProtocol(protocolId);
    if (!protocol) {
      throw new UsageError(
        `unknown protocol "${protocolId}" (built in: ${BUILTIN_PROTOCOLS.map((p) => p.id).join(', ')})`,
      );
    }
    const json = await readJsonFile(values.bundle);
    const facts = extractRefillFacts(patientRecordFromBundle(json), { asOf });
    const d = await evaluateProtocol(protocol, facts);
    io.stdout(`${JSON.stringify(decisionOutput(d), null, 2)}\n`);
    return 0;
  },
};

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

const criteriaCount = (p: ProtocolDefinition): number =>
  p.guards.length + p.categories.reduce((n, c) => n + c.criteria.length, 0);

/** A stored version as a runnable protocol (its row's id/version win over the document's), else a built-in one. */
async function storedOrBuiltin(store: Store, ref: { id: string; version?: number }): Promise<ProtocolDefinition> {
  const row =
    ref.version === undefined
      ? await store.protocols.getPublished(ref.id)
      : await store.protocols.getVersion(ref.id, ref.version);
  if (!row) return builtinOf(refillKind, ref) as ProtocolDefinition;
  const doc =
    typeof row.definition === 'object' && row.definition !== null && !Array.isArray(row.definition)
      ? { ...row.definition, id: row.protocolId, version: row.version }
      : row.definition;
  const issues = checkDocument(doc);
  if (issues.length) throw new InvalidProtocolError(`stored ${row.protocolId}@${row.version}`, issues);
  return parseProtocol(doc);
}

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

export const refillCli: KindCli = {
  kind: refillKind.id,
  output: (decision) => decisionOutput(decision as TriageDecision),
  outputUsage: 'the decision `autopilot triage` prints',
  commands: [triage],
  describe(definition) {
    const p = definition as ProtocolDefinition;
    return `${plural(criteriaCount(p), 'criterion', 'criteria')}, ${plural(p.routes.length, 'route', 'routes')}`;
  },

  // The compiled evaluator in steps, reporting progress between them, and the sentence of every flipped criterion.
  async simulateCases(definition, cases, progress): Promise<SimulatedCases> {
    const candidate = definition as ProtocolDefinition;
    const recorded = cases as readonly RecordedCase[];
    const zero = Object.fromEntries(DispositionSchema.options.map((d) => [d, 0])) as Record<Disposition, number>;
    let before = zero;
    let after = zero;
    const changed: CliSimulationReport['changed'] = [];
    for (let start = 0; start < recorded.length; start += STEP) {
      const step = recorded.slice(start, start + STEP);
      const report = simulateCompiled(candidate, step);
      before = addCounts(before, report.before.counts);
      after = addCounts(after, report.after.counts);
      changed.push(...(await explainFlips(candidate, step, report.changed)));
      progress?.(`simulated ${start + step.length}/${recorded.length} cases, ${changed.length} changed`);
    }
    progress?.('');
    return { evaluated: recorded.length, before: summarise(before), after: summarise(after), changed };
  },

  // The API's simulation (rules/kinds/refill/simulate-recorded.ts), against the recorded decisions or a baseline
  // version (stored or built in), plus the sentence explaining each flipped criterion.
  async simulateClinic(store, definition, o, progress) {
    const candidate = definition as ProtocolDefinition;
    const baseline = o.against === undefined ? undefined : await storedOrBuiltin(store, parseProtocolRef(o.against));
    const range = clinicRange(o, baseline?.id ?? candidate.id);
    const total = await store.snapshots.count(range);
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
      baseline: baseline ? { kind: 'protocol', id: baseline.id, version: baseline.version } : { kind: 'recorded' },
      skipped: report.skipped,
      evaluated: report.evaluated,
      before: report.before,
      after: report.after,
      changed: explained.reverse(), // oldest first
    };
  },
};
