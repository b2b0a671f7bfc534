// What every CLI command is given, and the one error that means "the user asked wrongly" (exit 2, one stderr line).
import { readFile } from 'node:fs/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** The CLI's window on the world: injected so a command can be driven without a terminal. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  today: () => string;
  /** A status line that replaces the previous one (`''` clears it); absent when stderr is not a terminal. */
  progress?: (text: string) => void;
}

/** Bad arguments or unreadable input: printed as one `autopilot: …` line on stderr, exit code 2. */
export class UsageError extends Error {}

/** node:util `parseArgs`, its refusal (an unknown option, a missing value) as a UsageError. */
export function parseCommandLine<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
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
