/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call -- JSON read untyped */
// `autopilot protocols validate | diff | simulate` on a care-gap protocol (the real CLI, spawned): the kinds registry
// validates and diffs it, and --clinic replays it over the clinic's recorded care-gap snapshots.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createStore } from '../../connectors/db/index.ts';
import { CARE_GAP_BUILTINS, evaluateCareGap, type CareGapFacts } from '../../rules/kinds/care-gap/index.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

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

const none = { present: false, lastDate: null, evidence: [] };
function facts(colonoscopy: string): CareGapFacts {
  const t = { resourceType: 'Procedure', id: `proc-${colonoscopy}`, date: colonoscopy };
  return {
    asOf: '2026-06-01',
    patient: { ageYears: 61, postalAddress: true, phone: true, evidence: { resourceType: 'Patient', id: 'p' } },
    exclusions: {
      colorectalCancer: none,
      totalColectomy: none,
      hospice: none,
      palliativeCare: none,
      frailty: none,
      advancedIllness: none,
      dementiaMedication: none,
      housing: { status: null, date: null, evidence: null },
    },
    risk: { lowerGiSymptoms: none, inflammatoryBowelDisease: none, colonicPolypsHistory: none },
    tests: {
      lastPositiveFit: null,
      lastNegativeFit: null,
      lastPositiveSdna: null,
      lastNegativeSdna: null,
      lastCtColonography: null,
      lastSigmoidoscopy: null,
      lastColonoscopy: t,
      lastResult: t,
    },
    orders: { latestOpen: null, latestActive: null },
    declined: { last: null },
  };
}

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
    refillAutomationEnabled: true,
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

  test('simulate --bundles is for refill protocols: one line, exit 2', () => {
    const r = autopilot(['simulate', CRC_FILE, '--bundles', dir]);
    expect(r).toMatchObject({
      code: 2,
      stderr: 'autopilot: --bundles simulates refill protocols; simulate a care-gap protocol with --clinic\n',
    });
  });
});
