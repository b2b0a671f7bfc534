// `autopilot <command>`: the engine's commands (evaluate, protocols, tokens, sweep, audit) and the kinds' own (cli/kinds/,
// e.g. `autopilot triage`), each with the same code the server runs.
import { AppError } from '../rules/index.ts';
import { AUDIT_USAGE, runAuditCli } from './audit.ts';
import { EVALUATE_USAGE, runEvaluateCli } from './evaluate.ts';
import { parseCommandLine, UsageError, type CliIo } from './io.ts';
import { KIND_COMMANDS } from './kinds/index.ts';
import type { KindCommand } from './kinds/types.ts';
import { PROTOCOLS_USAGE, runProtocolsCli } from './protocols.ts';
import { runSweepCli, SWEEP_USAGE } from './sweep.ts';
import { runTokensCli, TOKENS_USAGE } from './tokens.ts';

export type { CliIo } from './io.ts';

const USAGE = [
  ...KIND_COMMANDS.map((c) => c.usage),
  EVALUATE_USAGE,
  PROTOCOLS_USAGE,
  TOKENS_USAGE,
  SWEEP_USAGE,
  AUDIT_USAGE,
].join('\n\n');

/** Which kind command argv names (it may come after its options), or `help`. */
function kindCommand(argv: string[]): KindCommand | 'help' {
  // Every kind command's options, so that the command's name is found wherever it stands among them.
  const options = KIND_COMMANDS.reduce<KindCommand['options']>((all, c) => ({ ...all, ...c.options }), {});
  const parsed = parseCommandLine({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { ...options, help: { type: 'boolean', short: 'h' } },
  });
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  const command = KIND_COMMANDS.find((c) => c.name === positionals[0]);
  if (!command || positionals.length !== 1) {
    throw new UsageError(
      positionals.length
        ? `unknown command "${positionals.join(' ')}"`
        : `missing command "${KIND_COMMANDS.map((c) => c.name).join('" | "')}"`,
    );
  }
  return command;
}

/** Runs the CLI; returns the exit code. Never throws for bad input: it says what is wrong on one stderr line. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  if (argv[0] === 'protocols') return runProtocolsCli(argv.slice(1), io);
  if (argv[0] === 'tokens') return runTokensCli(argv.slice(1), io);
  if (argv[0] === 'sweep') return runSweepCli(argv.slice(1), io);
  if (argv[0] === 'audit') return runAuditCli(argv.slice(1), io);
  try {
    if (argv[0] === 'evaluate') return await runEvaluateCli(argv.slice(1), io);
    const command = kindCommand(argv);
    if (command === 'help') {
      io.stdout(`${USAGE}\n`);
      return 0;
    }
    return await command.run(argv, io);
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
