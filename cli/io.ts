// What every CLI command is given, and the one error that means "the user asked wrongly" (exit 2, one stderr line).

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
