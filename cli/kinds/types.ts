import type { Store } from '../../connectors/db/index.ts';
import type { KindCase } from '../../rules/engine/simulate-kind.ts';
import type { KindId } from '../../rules/kinds/index.ts';
import type { CliIo } from '../io.ts';
import type { ClinicSelection, SimulatedCases, SimulatedClinic } from '../protocol-tools.ts';

/** A command of a kind's own (`autopilot triage`): cli/autopilot.ts runs it when its name is the command. */
export interface KindCommand {
  name: string;
  /** Its part of `autopilot --help`. */
  usage: string;
  /** Its options, as `node:util` parseArgs takes them (the CLI finds the command's name among them). */
  options: Record<string, { type: 'string' | 'boolean'; short?: string }>;
  /**
   * Runs the command (argv: every argument, its name among them); returns the exit code. Bad input throws UsageError
   * or AppError `INVALID_INPUT`: the CLI prints one line and exits 2.
   */
  run(argv: string[], io: CliIo): Promise<number>;
}

/**
 * What a protocol kind adds to the CLI: how `autopilot evaluate` prints its decision, its own commands, and, where the
 * engine's generic paths are not enough, its own summary and simulation. Lives in `cli/kinds/<k>.ts`, listed by
 * cli/kinds/index.ts; the engine's commands ask the registry, never the kind by name.
 */
export interface KindCli {
  kind: KindId;
  /** The decision as `autopilot evaluate` prints it: one JSON object, the kind's CLI contract. */
  output(decision: unknown): Record<string, unknown>;
  /** What `output` prints, for `autopilot evaluate --help`. */
  outputUsage: string;
  commands?: readonly KindCommand[];
  /** What `protocols validate` says of a valid document in parentheses; absent: `kind <id>`. */
  describe?: (definition: unknown) => string;
  /**
   * Its own comparison of a candidate with baseline decisions (`simulate --bundles`), with the sentence explaining
   * each flipped finding. Absent: the engine's (rules/engine/simulate-kind.ts), without sentences.
   */
  simulateCases?: (
    candidate: unknown,
    cases: readonly KindCase[],
    progress?: (text: string) => void,
  ) => Promise<SimulatedCases>;
  /**
   * Its own replay of a clinic's recorded cases (`simulate --clinic`), which may take `--against` (a baseline
   * version). Absent: the engine's (simulateKindRecorded), against the recorded decisions only.
   */
  simulateClinic?: (
    store: Store,
    candidate: unknown,
    o: ClinicSelection & { file: string; against?: string | undefined },
    progress?: (text: string) => void,
  ) => Promise<SimulatedClinic>;
}
