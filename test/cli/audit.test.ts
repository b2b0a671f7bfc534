// Spawns the real CLI (node bin/autopilot.mjs audit verify) against a temporary app database on each dialect: an
// intact log exits 0; a row altered by someone who got past the append-only triggers exits 1 and names the row, its
// clinic and the expected against the found hash; bad input is one line, exit 2.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const postgresUrl = inject('postgresUrl');

const dialects = [
  { dialect: 'sqlite' as const, skip: false },
  { dialect: 'postgres' as const, skip: postgresUrl === undefined },
];

describe.each(dialects)('autopilot audit verify on $dialect', ({ dialect, skip }) => {
  let t: TestDatabase;
  let store: Store;
  let env: Record<string, string>;

  const autopilot = (...args: string[]) => {
    const r = spawnSync(process.execPath, ['bin/autopilot.mjs', 'audit', ...args], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, ...env },
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  beforeAll(async () => {
    if (skip) return;
    t = await openTestDatabase(dialect, postgresUrl);
    store = createStore(t.db);
    env = { DATA_DIR: t.options.dataDir, DATABASE_URL: t.options.databaseUrl ?? '' };
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  test.skipIf(skip)(
    'an intact log exits 0; an altered row exits 1 naming the row, its clinic and both hashes',
    async () => {
      const ids: number[] = [];
      for (let i = 0; i < 4; i++) {
        for (const clinicId of ['north', 'south']) {
          const { id } = await store.audit.appendAudit({
            actorType: 'user',
            actorId: 'ana@example.org',
            actorRole: 'nurse',
            action: 'case.viewed',
            clinicId,
            caseId: `rf_${clinicId}_mr-${i}`,
            detail: { patientId: `pat-${i}` },
          });
          if (clinicId === 'north') ids.push(id);
        }
      }
      await store.audit.appendAudit({ actorType: 'system', actorId: 'cli:ops', action: 'token.issued' });

      const intact = autopilot('verify');
      expect(intact.code, intact.stderr).toBe(0);
      expect(intact.stdout).toMatch(/^north: intact, 4 rows checked, head \d+ [0-9a-f]{64}$/m);
      expect(intact.stdout).toMatch(/^\(no clinic\): intact, 1 rows checked/m);
      expect(intact.stdout).toContain('audit log intact: 9 rows in 3 chains');

      // A tamperer with database access: past the triggers, the third north row now says another user looked.
      const target = ids[2]!;
      const { hash } = await t.db.kysely
        .selectFrom('audit_log')
        .select('hash')
        .where('id', '=', target)
        .executeTakeFirstOrThrow();
      if (dialect === 'postgres') {
        await sql`alter table audit_log disable trigger user`.execute(t.db.kysely);
        await sql`update audit_log set actor_id = 'someone@example.org' where id = ${target}`.execute(t.db.kysely);
        await sql`alter table audit_log enable trigger user`.execute(t.db.kysely);
      } else {
        await sql`drop trigger audit_log_no_update`.execute(t.db.kysely);
        await sql`update audit_log set actor_id = 'someone@example.org' where id = ${target}`.execute(t.db.kysely);
      }

      const tampered = autopilot('verify');
      expect(tampered.code, tampered.stderr).toBe(1);
      expect(tampered.stdout).toMatch(/^north: BROKEN, 3 rows checked, head \d+ [0-9a-f]{64}$/m);
      expect(tampered.stdout).toMatch(
        new RegExp(
          `^broken content at audit row ${target} \\(clinic north\\): expected [0-9a-f]{64}, found ${hash}$`,
          'm',
        ),
      );
      expect(tampered.stdout).toMatch(/^south: intact/m);
      expect(tampered.stdout).toContain('audit log TAMPERED: 1 of 3 chains broken');

      const json = autopilot('verify', '--json');
      expect(json.code).toBe(1);
      expect(JSON.parse(json.stdout)).toMatchObject({
        ok: false,
        breaks: [{ id: target, clinicId: 'north', kind: 'content', found: hash }],
      });

      const south = autopilot('verify', '--clinic', 'south');
      expect(south.code, south.stderr).toBe(0);
      expect(south.stdout).toContain('audit log intact: 4 rows in 1 chains');
    },
  );
});

test('bad input is one line on stderr, exit 2', () => {
  for (const args of [[], ['check'], ['verify', 'extra'], ['verify', '--clinic', ''], ['verify', '--nope']]) {
    const r = spawnSync(process.execPath, ['bin/autopilot.mjs', 'audit', ...args], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status, args.join(' ')).toBe(2);
    expect(r.stderr).toMatch(/^autopilot: [^\n]+\n$/);
  }
});
