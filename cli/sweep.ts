// `autopilot sweep start | status`: start a clinic's panel sweep by hand and read its progress, through the API (so
// the admin check, the one-sweep-at-a-time rule and the audit row are the API's own).
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig, publicUrl } from '../connectors/config.ts';
import { parseCommandLine, UsageError, type CliIo } from './io.ts';

export const SWEEP_USAGE = `Usage: autopilot sweep start --clinic <id> [--wait] [--api <url>] [--token <admin token>]
       autopilot sweep status --clinic <id> --sweep <sweep id> [--wait] [--api <url>] [--token <admin token>]

Panel sweeps (every patient with a finished Encounter in the last 24 months gets their case of each patient-level
kind the clinic runs started or re-evaluated; the clinic's weekly Schedule runs the same sweep):
  start    starts a sweep now and prints { sweepId, status, links }; refused (exit 1) while one runs
  status   prints the sweep's progress { status, pages, encounters, patients, cases, … }
  --wait   polls until the sweep is done, then prints its progress
  --api    the API's base URL (default: PUBLIC_URL, else http://HOST:PORT)
  --token  an admin token (default: DEMO_ADMIN_TOKEN)
Exit codes: 0 done, 1 refused by the API (message on stderr), 2 bad input.`;

interface Progress {
  status: string;
  [k: string]: unknown;
}

/** Runs `autopilot sweep …`; returns the exit code. */
export async function runSweepCli(argv: string[], io: CliIo, fetchFn: typeof fetch = fetch): Promise<number> {
  try {
    const parsed = parseCommandLine({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        clinic: { type: 'string' },
        sweep: { type: 'string' },
        wait: { type: 'boolean' },
        api: { type: 'string' },
        token: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    const { values: v, positionals } = parsed;
    if (v.help) {
      io.stdout(`${SWEEP_USAGE}\n`);
      return 0;
    }
    const [command, ...rest] = positionals;
    if (command !== 'start' && command !== 'status') {
      throw new UsageError(command ? `unknown sweep command "${command}"` : 'missing sweep command (start or status)');
    }
    if (rest.length) throw new UsageError(`unexpected argument "${rest[0]}"`);
    if (!v.clinic) throw new UsageError('--clinic <id> is required');
    if (command === 'status' && !v.sweep) throw new UsageError('--sweep <sweep id> is required');
    if (command === 'start' && v.sweep) throw new UsageError('sweep start does not take --sweep');
    const config = loadConfig();
    const base = (v.api ?? publicUrl(config)).replace(/\/+$/, '');
    const token = v.token ?? config.DEMO_ADMIN_TOKEN;
    if (!token) throw new UsageError('--token <admin token> is required (or DEMO_ADMIN_TOKEN)');

    const call = async (method: 'GET' | 'POST', path: string): Promise<{ status: number; body: unknown }> => {
      let res: Response;
      try {
        res = await fetchFn(`${base}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
      } catch (e) {
        throw new UsageError(`cannot reach the API at ${base} (${e instanceof Error ? e.message : String(e)})`);
      }
      return { status: res.status, body: await res.json().catch(() => null) };
    };
    const refused = (r: { status: number; body: unknown }): number => {
      const err = (r.body as { error?: { code?: string; message?: string } } | null)?.error;
      io.stderr(`autopilot: ${r.status} ${err?.code ?? ''}: ${err?.message ?? 'refused'}\n`);
      return 1;
    };

    const clinic = encodeURIComponent(v.clinic);
    let sweepId = v.sweep;
    if (command === 'start') {
      const r = await call('POST', `/v1/clinics/${clinic}/sweeps`);
      if (r.status !== 202) return refused(r);
      sweepId = (r.body as { sweepId: string }).sweepId;
      if (!v.wait) {
        io.stdout(`${JSON.stringify(r.body, null, 2)}\n`);
        return 0;
      }
    }
    for (;;) {
      const r = await call('GET', `/v1/clinics/${clinic}/sweeps/${encodeURIComponent(sweepId!)}`);
      if (r.status !== 200) return refused(r);
      const progress = r.body as Progress;
      if (!v.wait || progress.status === 'done') {
        io.progress?.('');
        io.stdout(`${JSON.stringify(progress, null, 2)}\n`);
        return 0;
      }
      io.progress?.(`sweep ${sweepId}: ${String(progress.patients)} patients, ${String(progress.cases)} cases`);
      await sleep(1000);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`autopilot: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}
