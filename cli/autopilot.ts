// `autopilot triage --bundle <file.json> [--as-of YYYY-MM-DD] [--protocol <id>]`: the same code the worker runs
// (patientRecordFromBundle → extractRefillFacts → evaluateProtocol), without any server.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { extractRefillFacts, patientRecordFromBundle } from '../facts/refill/index.ts';
import { evaluateProtocol } from '../rules/kinds/refill/evaluate.ts';
import { AppError, IsoDateSchema } from '../rules/index.ts';
import { BUILTIN_PROTOCOLS, findBuiltinProtocol } from '../rules/kinds/refill/protocols/index.ts';
import { EVALUATE_USAGE, refillDecisionOutput, runEvaluateCli } from './evaluate.ts';
import { UsageError, type CliIo } from './io.ts';
import { PROTOCOLS_USAGE, runProtocolsCli } from './protocols.ts';
import { runSweepCli, SWEEP_USAGE } from './sweep.ts';
import { runTokensCli, TOKENS_USAGE } from './tokens.ts';

export type { CliIo } from './io.ts';

export const USAGE = `Usage: autopilot triage --bundle <file.json> [--as-of YYYY-MM-DD] [--protocol <id>]

Triage one refill request with a built-in protocol and print the decision as JSON:
  { disposition, failedCriteria, approvedSupply, bridgeSupply, routeTo, actions, protocol }

  --bundle <file>     FHIR R4 Bundle holding the refill request (MedicationRequest, intent "proposal")
                      and the patient's record
  --as-of <date>      day of triage, YYYY-MM-DD (default: today, UTC)
  --protocol <id>     built-in protocol id, latest version (default: family-medicine-2015)
  -h, --help          show this help

Exit codes: 0 decided, 2 bad input (message on stderr).

${EVALUATE_USAGE}

${PROTOCOLS_USAGE}

${TOKENS_USAGE}

${SWEEP_USAGE}`;

/** Runs the CLI; returns the exit code. Never throws for bad input: it says what is wrong on one stderr line. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  if (argv[0] === 'protocols') return runProtocolsCli(argv.slice(1), io);
  if (argv[0] === 'tokens') return runTokensCli(argv.slice(1), io);
  if (argv[0] === 'sweep') return runSweepCli(argv.slice(1), io);
  try {
    if (argv[0] === 'evaluate') return await runEvaluateCli(argv.slice(1), io);
    let parsed;
    try {
      parsed = parseArgs({
        args: argv,
        allowPositionals: true,
        strict: true,
        options: {
          bundle: { type: 'string' },
          'as-of': { type: 'string' },
          protocol: { type: 'string' },
          help: { type: 'boolean', short: 'h' },
        },
      });
    } catch (e) {
      throw new UsageError(e instanceof Error ? e.message : String(e));
    }
    const { values, positionals } = parsed;
    if (values.help) {
      io.stdout(`${USAGE}\n`);
      return 0;
    }
    if (positionals[0] !== 'triage' || positionals.length !== 1) {
      throw new UsageError(
        positionals.length ? `unknown command "${positionals.join(' ')}"` : 'missing command "triage"',
      );
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

    let text: string;
    try {
      text = await readFile(values.bundle, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new UsageError(`cannot read ${values.bundle}${code ? ` (${code})` : ''}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new UsageError(`${values.bundle} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
    }

    const facts = extractRefillFacts(patientRecordFromBundle(json), { asOf });
    const d = await evaluateProtocol(protocol, facts);
    const out = refillDecisionOutput(d);
    io.stdout(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`autopilot: ${e.message}\n`);
      return 2;
    }
    if (e instanceof AppError && e.code === 'INVALID_INPUT') {
      io.stderr(`autopilot: invalid bundle: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

const exitCode = await runCli(process.argv.slice(2), {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  today: () => new Date().toISOString().slice(0, 10),
  ...(process.stderr.isTTY ? { progress: (t: string) => process.stderr.write(`\r\x1b[K${t}`) } : {}),
});
process.exitCode = exitCode;
