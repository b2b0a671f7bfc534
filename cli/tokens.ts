// `autopilot tokens issue | revoke | list`: API tokens for people, against the app database (DATA_DIR or
// DATABASE_URL, as the API uses). The raw token is printed once, on issue; nothing else ever shows it.
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../connectors/config.ts';
import { AppError } from '../rules/index.ts';
import type { Role } from '../rules/schema/case.ts';
import { parseCommandLine, UsageError, type CliIo } from './io.ts';

export const TOKENS_USAGE = `Usage: autopilot tokens issue --role <admin|doctor|nurse|pharmacist|pa|privacy> --user <id> [--clinic <id>] [--name <text>] [--expires-in <30d|12h>]
       autopilot tokens revoke <token id>
       autopilot tokens list [--clinic <id>] [--all] [--json]

API tokens, one per person, in the app database (DATA_DIR or DATABASE_URL):
  issue    prints the new token on stdout, once (details on stderr); it expires after --expires-in
           (default TOKEN_DEFAULT_TTL_DAYS, at most TOKEN_MAX_TTL_DAYS). --user names the person (e-mail or
           staff id). Without --clinic the token is for every clinic: admins only once there are several clinics;
           a privacy officer's token (privacy: access monitoring of its clinic, nothing else) always names one.
  revoke   stops a token at once, by its id (tok_…, from list)
  list     ids, owners, roles, clinics, expiry and last use; never a token or its hash (--all: revoked too)
Every issue and revoke is audited (token.issued / token.revoked) with the operating-system user who ran it.
Exit codes: 0 done, 2 bad input (message on stderr).`;

const COMMANDS = ['issue', 'revoke', 'list'] as const;

/** Runs `autopilot tokens …`; returns the exit code. Bad input: one `autopilot: …` line on stderr, exit 2. */
export async function runTokensCli(argv: string[], io: CliIo): Promise<number> {
  try {
    const parsed = parseCommandLine({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        role: { type: 'string' },
        user: { type: 'string' },
        clinic: { type: 'string' },
        name: { type: 'string' },
        'expires-in': { type: 'string' },
        all: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    const { values: v, positionals } = parsed;
    if (v.help) {
      io.stdout(`${TOKENS_USAGE}\n`);
      return 0;
    }
    const command = positionals[0];
    if (!COMMANDS.includes(command as (typeof COMMANDS)[number])) {
      throw new UsageError(
        command ? `unknown tokens command "${command}"` : 'missing tokens command (issue, revoke or list)',
      );
    }
    const expected = command === 'revoke' ? 2 : 1;
    if (positionals.length !== expected) {
      throw new UsageError(command === 'revoke' ? 'revoke needs exactly one token id' : 'unexpected argument');
    }
    if (command === 'issue') {
      if (!v.role) throw new UsageError('--role <admin|doctor|nurse|pharmacist|pa|privacy> is required');
      if (!v.user) throw new UsageError('--user <id> is required (the person the token is for)');
    }

    const config = loadConfig();
    if (config.DATABASE_URL === undefined && !existsSync(join(config.DATA_DIR, 'app.db'))) {
      throw new UsageError(`no app database at ${join(config.DATA_DIR, 'app.db')} (set DATA_DIR, or DATABASE_URL)`);
    }
    const { createStore, issueToken, openDatabase, tokenView } = await import('../connectors/db/index.ts');
    const db = await openDatabase({ databaseUrl: config.DATABASE_URL, dataDir: config.DATA_DIR }).catch(
      (e: unknown) => {
        const code = typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : undefined;
        throw new UsageError(`cannot open the app database${code ? ` (${code})` : ''}`);
      },
    );
    try {
      const store = createStore(db);
      const by = `cli:${operator()}`;
      const now = new Date();
      if (command === 'issue') {
        const { token, record } = await issueToken(
          store,
          {
            role: v.role as Role,
            userId: v.user!,
            ...(v.clinic !== undefined ? { clinicId: v.clinic } : {}),
            ...(v.name !== undefined ? { name: v.name } : {}),
            ...(v['expires-in'] !== undefined ? { expiresIn: v['expires-in'] } : {}),
          },
          {
            by,
            byRole: null,
            actorType: 'system',
            now,
            defaultTtlDays: config.TOKEN_DEFAULT_TTL_DAYS,
            maxTtlDays: config.TOKEN_MAX_TTL_DAYS,
          },
        );
        io.stdout(`${token}\n`);
        io.stderr(
          `issued ${record.id} for ${record.userId} (${record.role}, ${record.clinicId ?? 'every clinic'}), ` +
            `expires ${record.expiresAt ?? 'never'}; the token above is shown only now\n`,
        );
        return 0;
      }
      if (command === 'revoke') {
        const id = positionals[1]!;
        const t = await store.tokens.get(id);
        if (!t || t.revokedAt !== null) throw new UsageError(`no active token "${id}"`);
        await store.tokens.revoke(id, {
          at: now.toISOString(),
          actorType: 'system',
          actorId: by,
          action: 'token.revoked',
          clinicId: t.clinicId,
          detail: { role: t.role, userId: t.userId },
        });
        io.stdout(`revoked ${id}\n`);
        return 0;
      }
      const items = (
        await store.tokens.list({ ...(v.clinic !== undefined ? { clinicId: v.clinic } : {}), includeRevoked: !!v.all })
      ).map(tokenView);
      if (v.json) {
        io.stdout(`${JSON.stringify(items, null, 2)}\n`);
        return 0;
      }
      const rows = [
        ['id', 'role', 'user', 'clinic', 'expires', 'last used', 'revoked'],
        ...items.map((t) => [
          t.id,
          t.role,
          t.userId,
          t.clinicId ?? '*',
          t.expiresAt ?? 'never',
          t.lastUsedAt ?? '-',
          t.revokedAt ?? '-',
        ]),
      ];
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      for (const r of rows)
        io.stdout(
          `${r
            .map((c, i) => c.padEnd(widths[i]!))
            .join('  ')
            .trimEnd()}\n`,
        );
      return 0;
    } finally {
      await db.close();
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`autopilot: ${e.message}\n`);
      return 2;
    }
    if (e instanceof AppError && ['INVALID_INPUT', 'UNPROCESSABLE', 'CONFLICT'].includes(e.code)) {
      const issue = e.issues[0];
      io.stderr(`autopilot: ${issue ? `${optionOf(issue.path)}: ${issue.message}` : e.message}\n`);
      return 2;
    }
    throw e;
  }
}

/** The operating-system user running the CLI, for the audit row ("who issued this token?"). */
function operator(): string {
  try {
    return userInfo().username || 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The CLI option behind a request field's JSON path (`$.userId` → `--user`). */
function optionOf(path: string): string {
  const field = path.replace(/^\$\.?/, '');
  const options: Record<string, string> = {
    role: '--role',
    userId: '--user',
    clinicId: '--clinic',
    name: '--name',
    expiresIn: '--expires-in',
  };
  return options[field] ?? (field || 'request');
}
