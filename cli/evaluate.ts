// `autopilot evaluate --protocol <id> --bundle <file.json> [--as-of YYYY-MM-DD] [--patient <id>]`: evaluates one
// patient's bundle with a built-in protocol of any kind, with the same code the worker runs and no server.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { careGapFactsFromBundle } from '../facts/care-gap/index.ts';
import { extractRefillFacts, patientRecordFromBundle } from '../facts/refill/index.ts';
import { evaluateProtocol } from '../rules/kinds/refill/evaluate.ts';
import { IsoDateSchema } from '../rules/index.ts';
import { type TriageDecision } from '../rules/kinds/refill/decision.ts';
import { CARE_GAP_BUILTINS, evaluateCareGap, findCareGapBuiltin } from '../rules/kinds/care-gap/index.ts';
import { BUILTIN_PROTOCOLS, findBuiltinProtocol } from '../rules/kinds/refill/protocols/index.ts';
import { UsageError, type CliIo } from './io.ts';

export const EVALUATE_USAGE = `Usage: autopilot evaluate --protocol <id> --bundle <file.json> [--as-of YYYY-MM-DD] [--patient <id>]

Evaluate one patient's FHIR R4 Bundle with a built-in protocol of any kind and print the decision as JSON:
  care gap: { disposition, clause, reasons: [{ id, evidence }], priority, routeTo, nextDueDate, actions, protocol }
  refill:   the decision \`autopilot triage\` prints

  --protocol <id>     built-in protocol id, latest version (${[...CARE_GAP_BUILTINS, ...BUILTIN_PROTOCOLS]
    .map((p) => p.id)
    .filter((id, i, all) => all.indexOf(id) === i)
    .join(', ')})
  --bundle <file>     FHIR R4 Bundle with the patient's record
  --as-of <date>      day of evaluation, YYYY-MM-DD (default: today, UTC)
  --patient <id>      the Patient to evaluate when the bundle holds several (care gaps)

Exit codes: 0 decided, 2 bad input (message on stderr).`;

/** The refill decision as `autopilot triage` prints it (one shape for both commands). */
export function refillDecisionOutput(d: TriageDecision): Record<string, unknown> {
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

/** Reads and parses a JSON file, or says in one line why not. */
export async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read ${path}${code ? ` (${code})` : ''}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${path} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/**
 * Runs `evaluate` (argv after the command name). Bad input throws UsageError or AppError `INVALID_INPUT`; the caller
 * (`runCli`) prints one line and exits 2.
 */
export async function runEvaluateCli(argv: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: false,
      strict: true,
      options: {
        protocol: { type: 'string' },
        bundle: { type: 'string' },
        'as-of': { type: 'string' },
        patient: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  const { values } = parsed;
  if (values.help) {
    io.stdout(`${EVALUATE_USAGE}\n`);
    return 0;
  }
  if (!values.protocol) throw new UsageError('--protocol <id> is required');
  if (!values.bundle) throw new UsageError('--bundle <file.json> is required');
  const asOf = values['as-of'] ?? io.today();
  if (!IsoDateSchema.safeParse(asOf).success) throw new UsageError(`--as-of must be a date YYYY-MM-DD, got "${asOf}"`);

  const careGap = findCareGapBuiltin(values.protocol);
  const refill = careGap ? undefined : findBuiltinProtocol(values.protocol);
  if (!careGap && !refill) {
    const known = [...CARE_GAP_BUILTINS, ...BUILTIN_PROTOCOLS].map((p) => p.id);
    throw new UsageError(`unknown protocol "${values.protocol}" (built in: ${[...new Set(known)].join(', ')})`);
  }
  if (refill && values.patient !== undefined)
    throw new UsageError('--patient is for care-gap protocols (a refill bundle holds one request of one patient)');

  const bundle = await readJsonFile(values.bundle);
  let out: Record<string, unknown>;
  if (careGap) {
    const facts = careGapFactsFromBundle(bundle, { asOf, ...(values.patient ? { patientId: values.patient } : {}) });
    const d = await evaluateCareGap(careGap, facts);
    out = {
      disposition: d.disposition,
      clause: d.clause,
      reasons: d.reasons,
      priority: d.priority,
      routeTo: d.routeTo,
      nextDueDate: d.nextDueDate,
      actions: d.actions,
      protocol: d.protocol,
    };
  } else {
    const facts = extractRefillFacts(patientRecordFromBundle(bundle), { asOf });
    out = refillDecisionOutput(await evaluateProtocol(refill!, facts));
  }
  io.stdout(`${JSON.stringify(out, null, 2)}\n`);
  return 0;
}
