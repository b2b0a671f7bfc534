// Spawns the real CLI (node bin/autopilot.mjs tokens …) against a temporary app database: an operator issues a
// token for a person (printed once, expiring), lists tokens without seeing one, revokes; bad input is one line, exit 2.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createStore, hashToken, type Store } from '../../connectors/db/index.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
let t: TestDatabase;
let store: Store;
let env: Record<string, string>;

function autopilot(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/autopilot.mjs', 'tokens', ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const clinic = (id: string) => ({
  id,
  name: id,
  webhookSecret: `whsec_${id}_0123456789abcdef`,
  fhirBaseUrl: 'https://ehr.example.org/fhir/R4',
  fhirClientId: 'x',
  protocolId: 'family-medicine-2015',
  nurseSlaSeconds: 3600,
  timezone: 'UTC',
});

beforeAll(async () => {
  t = await openTestDatabase('sqlite');
  store = createStore(t.db);
  await store.clinics.upsert(clinic('cli-a'));
  await store.clinics.upsert(clinic('cli-b'));
  env = { DATA_DIR: t.options.dataDir, DATABASE_URL: '', TOKEN_DEFAULT_TTL_DAYS: '30' };
});
afterAll(async () => {
  await t?.cleanup();
});

describe('autopilot tokens', () => {
  test('issue prints the token once on stdout; it is stored hashed, expiring, and audited without the token', async () => {
    const r = autopilot('issue', '--role', 'nurse', '--user', 'ana@cli-a.example', '--clinic', 'cli-a');
    expect(r.code, r.stderr).toBe(0);
    const token = r.stdout.trim();
    expect(token).toMatch(/^eap_[A-Za-z0-9_-]{43}$/);
    expect(r.stderr).toMatch(/^issued tok_\S+ for ana@cli-a\.example \(nurse, cli-a\), expires \S+; /);
    const record = (await store.tokens.findByToken(token))!;
    expect(record).toMatchObject({ userId: 'ana@cli-a.example', role: 'nurse', clinicId: 'cli-a' });
    expect(record.createdBy).toMatch(/^cli:/);
    // TOKEN_DEFAULT_TTL_DAYS=30
    expect(Date.parse(record.expiresAt!) - Date.parse(record.createdAt)).toBeGreaterThan(30 * 86_400_000 - 60_000);
    expect(Date.parse(record.expiresAt!) - Date.parse(record.createdAt)).toBeLessThanOrEqual(30 * 86_400_000);
    const { items } = await store.audit.listAudit({ action: 'token.issued' });
    expect(items[0]).toMatchObject({ actorType: 'system', clinicId: 'cli-a', detail: { tokenId: record.id } });
    expect(JSON.stringify(items)).not.toContain(token);

    const list = autopilot('list', '--clinic', 'cli-a');
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain(record.id);
    expect(list.stdout).toContain('ana@cli-a.example');
    expect(list.stdout).not.toContain(token);
    expect(list.stdout).not.toContain(hashToken(token));
    const json = JSON.parse(autopilot('list', '--json').stdout) as Record<string, unknown>[];
    expect(json.find((x) => x.id === record.id)).not.toHaveProperty('tokenHash');

    const revoke = autopilot('revoke', record.id);
    expect(revoke.code, revoke.stderr).toBe(0);
    expect(revoke.stdout).toBe(`revoked ${record.id}\n`);
    expect(await store.tokens.findByToken(token)).toBeNull();
    expect((await store.audit.listAudit({ action: 'token.revoked' })).items[0]?.detail).toMatchObject({
      tokenId: record.id,
    });
    expect(autopilot('list', '--clinic', 'cli-a').stdout).not.toContain(record.id);
    expect(autopilot('list', '--clinic', 'cli-a', '--all').stdout).toContain(record.id);
  });

  test('an --expires-in lifetime is honoured, and a global admin needs no clinic', async () => {
    const r = autopilot('issue', '--role', 'admin', '--user', 'root@example.org', '--expires-in', '12h');
    expect(r.code, r.stderr).toBe(0);
    const record = (await store.tokens.findByToken(r.stdout.trim()))!;
    expect(record.clinicId).toBeNull();
    expect(Date.parse(record.expiresAt!) - Date.parse(record.createdAt)).toBeLessThanOrEqual(12 * 3_600_000);
  });

  test('a privacy officer’s token is issued for one clinic', async () => {
    const r = autopilot('issue', '--role', 'privacy', '--user', 'po@cli-a.example', '--clinic', 'cli-a');
    expect(r.code, r.stderr).toBe(0);
    expect(await store.tokens.findByToken(r.stdout.trim())).toMatchObject({ role: 'privacy', clinicId: 'cli-a' });
  });

  test.each([
    [['issue', '--role', 'nurse'], /^autopilot: --user <id> is required/],
    [['issue', '--user', 'x'], /^autopilot: --role <admin\|doctor\|nurse\|pharmacist\|pa\|privacy> is required$/],
    [['issue', '--role', 'owner', '--user', 'x', '--clinic', 'cli-a'], /^autopilot: --role: /],
    [['issue', '--role', 'nurse', '--user', 'two words', '--clinic', 'cli-a'], /^autopilot: --user: /],
    [['issue', '--role', 'nurse', '--user', 'rn', '--clinic', 'nope'], /^autopilot: --clinic: no such clinic$/],
    [['issue', '--role', 'nurse', '--user', 'rn'], /^autopilot: --clinic: a clinician token must name its clinic/],
    [
      ['issue', '--role', 'privacy', '--user', 'po'],
      /^autopilot: --clinic: a privacy officer’s token must name its clinic/,
    ],
    [
      ['issue', '--role', 'nurse', '--user', 'rn', '--clinic', 'cli-a', '--expires-in', '9999d'],
      /--expires-in: at most/,
    ],
    [['revoke'], /^autopilot: revoke needs exactly one token id$/],
    [['revoke', 'tok_nope'], /^autopilot: no active token "tok_nope"$/],
    [['rotate'], /^autopilot: unknown tokens command "rotate"$/],
    [['list', '--bogus'], /^autopilot: Unknown option '--bogus'/],
  ])('%j → one line on stderr, exit 2', (args, message) => {
    const r = autopilot(...args);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.endsWith('\n')).toBe(true);
    expect(r.stderr.trimEnd()).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toBe('');
  });
});
