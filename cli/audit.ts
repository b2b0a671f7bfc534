// `autopilot audit verify`: checks the audit log's hash chains (connectors/db/audit-chain.ts) in the app database
// (DATA_DIR or DATABASE_URL, as the API uses) and reports the first broken link of each chain.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../connectors/config.ts';
import { parseCommandLine, UsageError, type CliIo } from './io.ts';

export const AUDIT_USAGE = `Usage: autopilot audit verify [--clinic <id>] [--json]

Checks that the audit log is as it was written, in the app database (DATA_DIR or DATABASE_URL): each row is
hash-chained to the previous row of its clinic (rows without a clinic: one chain of their own). Prints, per chain,
the rows checked and its head (last good row id and hash: keep it elsewhere, since removing a chain's newest rows
is visible only against a head recorded before), and the first broken link: the row id, its clinic, and the expected
against the found hash ("link": a row before it was removed or it was inserted out of band; "content": the row was
altered). --clinic checks that clinic's chain only.
Exit codes: 0 every chain intact, 1 a chain is broken, 2 bad input (message on stderr).`;

/** Runs `autopilot audit …`; returns the exit code. */
export async function runAuditCli(argv: string[], io: CliIo): Promise<number> {
  try {
    const parsed = parseCommandLine({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        clinic: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    const { values: v, positionals } = parsed;
    if (v.help) {
      io.stdout(`${AUDIT_USAGE}\n`);
      return 0;
    }
    if (positionals[0] !== 'verify') {
      throw new UsageError(
        positionals[0] ? `unknown audit command "${positionals[0]}"` : 'missing audit command (verify)',
      );
    }
    if (positionals.length !== 1) throw new UsageError('unexpected argument');
    if (v.clinic !== undefined && v.clinic.trim() === '') throw new UsageError('--clinic needs a clinic id');

    const config = loadConfig();
    if (config.DATABASE_URL === undefined && !existsSync(join(config.DATA_DIR, 'app.db'))) {
      throw new UsageError(`no app database at ${join(config.DATA_DIR, 'app.db')} (set DATA_DIR, or DATABASE_URL)`);
    }
    const { createStore, openDatabase } = await import('../connectors/db/index.ts');
    const db = await openDatabase({ databaseUrl: config.DATABASE_URL, dataDir: config.DATA_DIR }).catch(
      (e: unknown) => {
        const code = typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : undefined;
        throw new UsageError(`cannot open the app database${code ? ` (${code})` : ''}`);
      },
    );
    try {
      const report = await createStore(db).audit.verifyChains({
        ...(v.clinic !== undefined ? { clinicId: v.clinic } : {}),
        ...(io.progress ? { onPage: (n: number) => io.progress?.(`${n} audit rows checked`) } : {}),
      });
      io.progress?.('');
      if (v.json) {
        io.stdout(`${JSON.stringify({ ok: report.breaks.length === 0, ...report }, null, 2)}\n`);
        return report.breaks.length === 0 ? 0 : 1;
      }
      const name = (clinicId: string | null) => (clinicId === null ? '(no clinic)' : clinicId);
      for (const c of report.chains) {
        const head = c.head ? `head ${c.head.id} ${c.head.hash}` : 'no intact row';
        io.stdout(`${name(c.clinicId)}: ${c.broken ? 'BROKEN' : 'intact'}, ${c.rows} rows checked, ${head}\n`);
      }
      for (const b of report.breaks) {
        io.stdout(
          `broken ${b.kind} at audit row ${b.id} (clinic ${name(b.clinicId)}): expected ${b.expected}, found ` +
            `${b.found ?? 'no hash'}\n`,
        );
      }
      if (report.chains.length === 0) io.stdout(`no audit rows${v.clinic !== undefined ? ' for this clinic' : ''}\n`);
      io.stdout(
        report.breaks.length === 0
          ? `audit log intact: ${report.rows} rows in ${report.chains.length} chains\n`
          : `audit log TAMPERED: ${report.breaks.length} of ${report.chains.length} chains broken\n`,
      );
      return report.breaks.length === 0 ? 0 : 1;
    } finally {
      await db.close();
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`autopilot: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}
