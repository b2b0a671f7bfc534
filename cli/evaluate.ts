// `autopilot evaluate --protocol <id> --bundle <file.json> [--as-of YYYY-MM-DD] [--patient <id>]`: evaluates one
// patient's bundle with a built-in protocol of any kind, with the same code the worker runs and no server. The kinds
// registries say everything kind-specific: whose protocol it is (rules/kinds), how its facts come from a bundle
// (facts/index.ts) and how its decision is printed (cli/kinds/).
import { bundleExtraction, factsFromBundle } from '../facts/index.ts';
import { IsoDateSchema } from '../rules/index.ts';
import { KINDS, kindById } from '../rules/kinds/index.ts';
import { KIND_CLIS, kindCli } from './kinds/index.ts';
import { readJsonFile, parseCommandLine, UsageError, type CliIo } from './io.ts';
import { builtinIds, findBuiltin } from './protocol-tools.ts';

/** The kinds whose bundles may hold several patients (`--patient` picks one). */
const patientKinds = (): string[] => KINDS.filter((k) => bundleExtraction(k.id)?.patientChoice).map((k) => k.id);

const outputWidth = Math.max(...KIND_CLIS.map((k) => k.kind.length + 1));

export const EVALUATE_USAGE = `Usage: autopilot evaluate --protocol <id> --bundle <file.json> [--as-of YYYY-MM-DD] [--patient <id>]

Evaluate one patient's FHIR R4 Bundle with a built-in protocol of any kind and print the decision as JSON:
${KIND_CLIS.map((k) => `  ${`${k.kind}:`.padEnd(outputWidth)} ${k.outputUsage}`).join('\n')}

  --protocol <id>     built-in protocol id, latest version (${builtinIds().join(', ')})
  --bundle <file>     FHIR R4 Bundle with the patient's record
  --as-of <date>      day of evaluation, YYYY-MM-DD (default: today, UTC)
  --patient <id>      the Patient to evaluate when the bundle holds several (${patientKinds().join(', ')} protocols)

Exit codes: 0 decided, 2 bad input (message on stderr).`;

/**
 * Runs `evaluate` (argv after the command name). Bad input throws UsageError or AppError `INVALID_INPUT`; the caller
 * (`runCli`) prints one line and exits 2.
 */
export async function runEvaluateCli(argv: string[], io: CliIo): Promise<number> {
  const parsed = parseCommandLine({
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
  const { values } = parsed;
  if (values.help) {
    io.stdout(`${EVALUATE_USAGE}\n`);
    return 0;
  }
  if (!values.protocol) throw new UsageError('--protocol <id> is required');
  if (!values.bundle) throw new UsageError('--bundle <file.json> is required');
  const asOf = values['as-of'] ?? io.today();
  if (!IsoDateSchema.safeParse(asOf).success) throw new UsageError(`--as-of must be a date YYYY-MM-DD, got "${asOf}"`);

  const builtin = findBuiltin(values.protocol);
  const kind = builtin && kindById(builtin.kind);
  if (!builtin || !kind) {
    throw new UsageError(`unknown protocol "${values.protocol}" (built in: ${builtinIds().join(', ')})`);
  }
  const extraction = bundleExtraction(kind.id);
  if (!extraction) throw new UsageError(`protocols of kind ${kind.id} cannot read FHIR Bundles`);
  if (values.patient !== undefined && !extraction.patientChoice) {
    throw new UsageError(
      `--patient is for ${patientKinds().join(', ')} protocols (a ${kind.id} bundle holds one patient)`,
    );
  }

  const bundle = await readJsonFile(values.bundle);
  const facts = factsFromBundle(kind.id, bundle, { asOf, ...(values.patient ? { patientId: values.patient } : {}) });
  const decision: unknown = await kind.evaluate(builtin.definition, facts);
  // A kind without a CLI part prints its whole decision.
  const out = kindCli(kind.id)?.output(decision) ?? decision;
  io.stdout(`${JSON.stringify(out, null, 2)}\n`);
  return 0;
}
