/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call -- JSON read untyped */
// `autopilot protocols validate | diff | simulate` on a care-gap protocol (the real CLI, spawned): the kinds registry
// validates and diffs it, --clinic replays it over the clinic's recorded care-gap snapshots, and --bundles over FHIR
// Bundles read with the facts registry's care-gap extraction.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createStore } from '../../connectors/db/index.ts';
import { careGapFactsFromBundle } from '../../facts/care-gap/index.ts';
import {
  CARE_GAP_BUILTINS,
  evaluateCareGap,
  parseCareGapProtocol,
  type CareGapFacts,
} from '../../rules/kinds/care-gap/index.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { careGapFacts } from '../helpers/care-gap-builders.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const CRC_FILE = 'rules/kinds/care-gap/protocols/crc-screening-2021.json';
const dir = mkdtempSync(join(tmpdir(), 'autopilot-kinds-cli-'));
let tdb: TestDatabase;

function autopilot(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['bin/autopilot.mjs', 'protocols', ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** crc-screening-2021 with an 8-year colonoscopy window (the tests table and CRC-10 agree). */
function eightYears(): string {
  const doc = structuredClone(CARE_GAP_BUILTINS[0]!) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
  doc.tests.find((t: { id: string }) => t.id === 'colonoscopy').windowMonths = 96;
  doc.clauses.find((c: { id: string }) => c.id === 'CRC-10').when.any[4].value = 96;
  const path = join(dir, 'crc-8y.json');
  writeFileSync(path, JSON.stringify(doc));
  return path;
}

const facts = (colonoscopy: string): CareGapFacts => careGapFacts({ colonoscopy });

beforeAll(async () => {
  tdb = await openTestDatabase('sqlite');
  const store = createStore(tdb.db);
  await store.clinics.upsert({
    id: 'cli-cg',
    name: 'CLI care gaps',
    webhookSecret: 'kinds-cli-secret-0123456789',
    fhirBaseUrl: 'http://127.0.0.1:9/fhir/R4',
    fhirClientId: 'x',
    protocolId: 'family-medicine-2015',
    nurseSlaSeconds: 60,
    timezone: 'UTC',
  });
  for (const [i, date] of ['2021-05-01', '2017-03-01'].entries()) {
    const f = facts(date);
    await store.snapshots.put({
      caseId: `cg_cli-cg_crc-screening-2021_${String(i).padStart(32, '0')}`,
      clinicId: 'cli-cg',
      protocolId: 'crc-screening-2021',
      facts: f,
      decision: await evaluateCareGap(CARE_GAP_BUILTINS[0]!, f),
    });
  }
  await tdb.db.close();
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await tdb?.cleanup().catch(() => undefined);
});

describe('autopilot protocols on a care-gap protocol', () => {
  test('validate: one line with id, version and kind; a broken clause is listed by JSON path, exit 1', () => {
    expect(autopilot(['validate', CRC_FILE])).toMatchObject({
      code: 0,
      stdout: 'valid: crc-screening-2021 v1 (kind care-gap)\n',
    });
    const doc = structuredClone(CARE_GAP_BUILTINS[0]!) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    doc.clauses[4].disposition = 'approve';
    writeFileSync(join(dir, 'broken.json'), JSON.stringify(doc));
    const r = autopilot(['validate', join(dir, 'broken.json')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^\$\.clauses\[4\]\.disposition: /m);
  });

  test('diff: the clause and the tests-table entry that changed', () => {
    const r = autopilot(['diff', CRC_FILE, eightYears()]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('~ item clauses/CRC-10\n    $.when.any[4].value: 120 → 96');
    expect(r.stdout).toContain('~ item tests/colonoscopy\n    $.windowMonths: 120 → 96');
    const mixed = autopilot(['diff', CRC_FILE, 'rules/kinds/refill/protocols/family-medicine-2015.json']);
    expect(mixed).toMatchObject({
      code: 2,
      stderr: 'autopilot: cannot diff a care-gap protocol with a refill protocol\n',
    });
  });

  test('simulate --clinic: the recorded case whose gap the shorter window re-opens, with the clauses that flipped', () => {
    const r = autopilot(['simulate', eightYears(), '--clinic', 'cli-cg', '--json'], {
      DATA_DIR: tdb.options.dataDir,
      DATABASE_URL: '',
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ evaluated: 2, skipped: 0, baseline: { kind: 'recorded' } });
    expect(report.changed).toHaveLength(1);
    expect(report.changed[0]).toMatchObject({
      before: { disposition: 'gap_closed', clause: 'CRC-10' },
      after: { disposition: 'outreach', clause: 'CRC-17' },
    });
    expect(report.changed[0].criteria).toContainEqual(
      expect.objectContaining({ id: 'CRC-10', before: true, after: false }),
    );
    const text = autopilot(['simulate', eightYears(), '--clinic', 'cli-cg'], {
      DATA_DIR: tdb.options.dataDir,
      DATABASE_URL: '',
    });
    expect(text.stdout).toContain('gap_closed (CRC-10) → outreach (CRC-17)');
    expect(text.stdout).toMatch(/^outreach\s+0 → 1 {2}\(\+1\)$/m);
    expect(text.stdout).toContain('CRC-10 (CRC-10): passed → failed');
  });

  test('simulate --bundles: the bundle whose colonoscopy the shorter window no longer covers, as the library says', async () => {
    // Three patients' bundles (the evaluate fixtures), two years on: the 2020 colonoscopy is 8½ years old.
    const bundles = join(dir, 'bundles');
    mkdirSync(bundles);
    for (const name of ['care-gap-outreach', 'care-gap-positive-fit', 'care-gap-up-to-date']) {
      copyFileSync(join(root, `test/fixtures/bundles/${name}.json`), join(bundles, `${name}.json`));
    }
    const asOf = '2028-06-15';
    const candidate = parseCareGapProtocol(JSON.parse(readFileSync(eightYears(), 'utf8')));
    const expected = [];
    for (const name of readdirSync(bundles).sort()) {
      const f = careGapFactsFromBundle(JSON.parse(readFileSync(join(bundles, name), 'utf8')), { asOf });
      const [was, now] = [await evaluateCareGap(CARE_GAP_BUILTINS[0]!, f), await evaluateCareGap(candidate, f)];
      if (was.clause !== now.clause) expected.push({ caseId: name.replace(/\.json$/, ''), was, now });
    }
    expect(expected.map((c) => c.caseId)).toEqual(['care-gap-up-to-date']);

    const r = autopilot(['simulate', eightYears(), '--bundles', bundles, '--as-of', asOf, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({
      baseline: { kind: 'protocol', id: 'crc-screening-2021', version: 1 },
      input: { kind: 'bundles', asOf },
      evaluated: 3,
      skipped: 0,
    });
    expect(report.changed.map((c: { caseId: string }) => c.caseId)).toEqual(expected.map((c) => c.caseId));
    expect(report.changed[0]).toMatchObject({
      before: { disposition: expected[0]!.was.disposition, clause: 'CRC-10' },
      after: { disposition: expected[0]!.now.disposition, clause: 'CRC-17' },
    });
    expect(report.changed[0].criteria).toContainEqual(
      expect.objectContaining({ id: 'CRC-10', before: true, after: false }),
    );
    expect(report.before.counts.gap_closed - report.after.counts.gap_closed).toBe(1);

    // Today the colonoscopy is within both windows: nothing changes.
    const today = autopilot(['simulate', eightYears(), '--bundles', bundles, '--as-of', '2026-06-15']);
    expect(today.code).toBe(0);
    expect(today.stdout).toContain('No case changes disposition.');
  });

  test('simulate --bundles: a bundle of several patients is one line naming the file, exit 2', () => {
    const bundles = join(dir, 'two-patients');
    mkdirSync(bundles);
    copyFileSync(join(root, 'test/fixtures/bundles/care-gap-two-patients.json'), join(bundles, 'two.json'));
    const r = autopilot(['simulate', CRC_FILE, '--bundles', bundles]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `autopilot: invalid bundle ${join(bundles, 'two.json')}: $.entry: the bundle holds 2 patients: say which with a patient id\n`,
    );
  });

  test('simulate --clinic --against is for kinds that simulate against a baseline version: one line, exit 2', () => {
    const r = autopilot(['simulate', CRC_FILE, '--clinic', 'cli-cg', '--against', 'crc-screening-2021']);
    expect(r).toMatchObject({
      code: 2,
      stderr:
        'autopilot: --against is for refill protocols; a care-gap protocol is compared with the recorded decisions\n',
    });
  });
});
