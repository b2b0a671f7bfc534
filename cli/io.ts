// What every CLI command is given, and the one error that means "the user asked wrongly" (exit 2, one stderr line).
import { readFile } from 'node:fs/promises';

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
