// The CLI's registry of protocol kinds: each kind's own commands and printing (cli/kinds/<k>.ts). The one CLI file
// that names kinds, as rules/kinds/index.ts is for the kinds themselves; the engine's commands (cli/autopilot.ts,
// cli/evaluate.ts, cli/protocols.ts) ask it.
import type { KindId } from '../../rules/kinds/index.ts';
import { careGapCli } from './care-gap.ts';
import { refillCli } from './refill.ts';
import type { KindCli, KindCommand } from './types.ts';

/** Every kind's CLI part, in the kind registry's order. */
export const KIND_CLIS: readonly KindCli[] = [refillCli, careGapCli];

/** A kind's CLI part; undefined when the kind has none (the engine's defaults apply). */
export function kindCli(kind: KindId): KindCli | undefined {
  return KIND_CLIS.find((k) => k.kind === kind);
}

/** The commands of the kinds' own (`triage`), in the registry's order. */
export const KIND_COMMANDS: readonly KindCommand[] = KIND_CLIS.flatMap((k) => k.commands ?? []);
