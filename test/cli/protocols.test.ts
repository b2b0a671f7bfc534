// Spawns the real CLI (node bin/autopilot.mjs protocols …): validate, diff, and simulate over generated FHIR Bundles
// and over a clinic's recorded snapshots in a temporary app database (SQLite, and PostgreSQL when available).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { extractRefillFacts, patientRecordFromBundle } from '../../facts/refill/index.ts';
import { createStore } from '../../connectors/db/index.ts';
import { evaluateProtocol } from '../../rules/kinds/refill/evaluate.ts';
import { parseProtocol } from '../../rules/kinds/refill/protocol.ts';
import { type RefillFacts } from '../../rules/kinds/refill/facts.ts';
import { type TriageDecision } from '../../rules/kinds/refill/decision.ts';
import { generateClinic, toPatientBundle } from '../../sandbox/synthetic/index.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const REFERENCE_FILE = 'rules/kinds/refill/protocols/family-medicine-2015.json';
const AS_OF = '2026-06-15';

function autopilot(
  args: string[],
  env: Record<string, string> = {},
): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/autopilot.mjs', 'protocols', ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

type Doc = {
  version: number;
  categories: { id: string; criteria: { id: string; when: { all: Record<string, unknown>[] } }[] }[];
  guards: unknown[];
  routes: unknown[];
};
const referenceDoc = (): Doc => JSON.parse(readFileSync(join(root, REFERENCE_FILE), 'utf8')) as Doc;
const ppiCriterion = (doc: Doc) =>
  doc.categories.find((c) => c.id === 'antacid_reflux')!.criteria.find((c) => c.id === 'visit_within_18mo')!;

/** The reference protocol with only the PPI visit window changed 18 → 12 months, as version 2. */
function ppi12(): Doc {
  const doc = referenceDoc();
  expect(ppiCriterion(doc).when.all[0]).toMatchObject({ operator: 'withinMonths', value: 18 });
  ppiCriterion(doc).when.all[0]!.value = 12;
  doc.version = 2;
  return doc;
}

// Made at collection time: test.each tables name files in it.
const dir = mkdtempSync(join(tmpdir(), 'autopilot-protocols-cli-'));
const bundlesDir = join(dir, 'bundles');
const file = (name: string) => join(dir, name);
/** Every generated refill request: its bundle's facts, scenario, and the decisions of both protocol versions. */
let requests: {
  id: string;
  scenario: string;
  facts: RefillFacts;
  reference: TriageDecision;
  candidate: TriageDecision;
}[];

beforeAll(async () => {
  mkdirSync(bundlesDir);
  writeFileSync(file('ppi-12.json'), JSON.stringify(ppi12(), null, 2));
  const invalid = referenceDoc();
  invalid.categories[0]!.criteria[0]!.when.all[0]!.fact = 'nope';
  invalid.categories[1]!.criteria[0]!.when.all[0]!.operator = 'greaterThan';
  writeFileSync(file('invalid.json'), JSON.stringify(invalid));
  writeFileSync(file('garbage.json'), 'garbage, not JSON {');

  const reference = parseProtocol(referenceDoc());
  const candidate = parseProtocol(ppi12());
  const clinic = generateClinic({ seed: 7, patients: 150, asOf: AS_OF });
  requests = [];
  for (const r of clinic.refillRequests) {
    const bundle = toPatientBundle(clinic.resources, r.medicationRequestId);
    writeFileSync(join(bundlesDir, `${r.medicationRequestId}.json`), JSON.stringify(bundle));
    const facts = extractRefillFacts(patientRecordFromBundle(bundle), { asOf: AS_OF });
    requests.push({
      id: r.medicationRequestId,
      scenario: r.scenario,
      facts,
      reference: await evaluateProtocol(reference, facts),
      candidate: await evaluateProtocol(candidate, facts),
    });
  }
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The requests the 18 → 12 change moves, by the library: the CLI must report exactly these. */
const expectedChanged = () => requests.filter((r) => r.reference.disposition !== r.candidate.disposition);

describe('autopilot protocols: commands', () => {
  test('--help prints the usage of every protocols command', () => {
    const r = autopilot(['--help']);
    expect(r.code).toBe(0);
    for (const usage of [
      'autopilot protocols validate <file.json>',
      'autopilot protocols simulate <file.json> --clinic <id>',
      'autopilot protocols simulate <file.json> --bundles <dir>',
      'autopilot protocols diff <before.json> <after.json>',
    ]) {
      expect(r.stdout).toContain(usage);
    }
  });

  test.each([
    [
      'an unknown command',
      ['lint', REFERENCE_FILE],
      /^autopilot: unknown command "protocols lint" \(validate \| simulate \| diff\)$/,
    ],
    ['no command', [], /^autopilot: missing command: protocols validate \| simulate \| diff$/],
    [
      'both --clinic and --bundles',
      ['simulate', REFERENCE_FILE, '--clinic', 'demo', '--bundles', '.'],
      /^autopilot: simulate needs exactly one of --clinic <id> and --bundles <dir>$/,
    ],
  ])('%s → one line on stderr, exit 2', (_name, args, message) => {
    const r = autopilot(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr.trimEnd()).toMatch(message);
  });
});

describe('autopilot protocols validate', () => {
  test('a valid protocol: one line with id, version and counts, exit 0', () => {
    const doc = referenceDoc();
    const criteria = doc.guards.length + doc.categories.reduce((n, c) => n + c.criteria.length, 0);
    const r = autopilot(['validate', REFERENCE_FILE]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`valid: family-medicine-2015 v1 (${criteria} criteria, ${doc.routes.length} routes)\n`);
  });

  test('an invalid protocol: every problem as "<JSON path>: <sentence>", exit 1', () => {
    const r = autopilot(['validate', file('invalid.json')]);
    expect(r.code).toBe(1);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\$\.categories\[0\]\.criteria\[0\]\.when\.all\[0\]\.fact: .+/);
    expect(lines[1]).toBe(
      '$.categories[1].criteria[0].when.all[0].operator: operator "greaterThan" needs a number fact, ' +
        'but visits.lastPcpRov.date is date',
    );
  });

  test.each([
    ['not JSON', [file('garbage.json')], /^autopilot: .*garbage\.json is not valid JSON: /],
    ['a missing file', [file('nope.json')], /^autopilot: cannot read .*nope\.json \(ENOENT\)$/],
    ['no file', [], /^autopilot: usage: autopilot protocols validate <file\.json>$/],
  ])('%s → one line on stderr, exit 2', (_name, args, message) => {
    const r = autopilot(['validate', ...args]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr.trimEnd()).toMatch(message);
  });
});

describe('autopilot protocols diff', () => {
  test('the PPI window 18 → 12 is exactly one changed criterion, one changed field', () => {
    const r = autopilot(['diff', REFERENCE_FILE, file('ppi-12.json')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      'family-medicine-2015 v1 → family-medicine-2015 v2: 1 changed, 0 added, 0 removed\n' +
        '~ criterion antacid_reflux/visit_within_18mo\n' +
        '    $.when.all[0].value: 18 → 12\n',
    );
    const json = JSON.parse(autopilot(['diff', REFERENCE_FILE, file('ppi-12.json'), '--json']).stdout) as unknown;
    expect(json).toEqual({
      before: { id: 'family-medicine-2015', version: 1 },
      after: { id: 'family-medicine-2015', version: 2 },
      changes: [
        {
          kind: 'criterion',
          id: 'visit_within_18mo',
          category: 'antacid_reflux',
          change: 'changed',
          fields: [{ path: '$.when.all[0].value', before: 18, after: 12 }],
        },
      ],
      counts: { added: 0, removed: 0, changed: 1 },
    });
  });

  test('an invalid side: its problems on stderr, exit 1', () => {
    const r = autopilot(['diff', REFERENCE_FILE, file('invalid.json')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('invalid.json is not a valid protocol:\n$.categories[0].criteria[0].when.all[0].fact: ');
  });
});

describe('autopilot protocols simulate --bundles', () => {
  test('shows exactly the PPI cases the 12-month window sends to a visit, with the criterion that flipped', () => {
    const changed = expectedChanged();
    expect(changed.length).toBeGreaterThan(1); // the generated clinic really exercises the change
    for (const c of changed) expect(c.scenario).toMatch(/^ppi-/);

    const r = autopilot(['simulate', file('ppi-12.json'), '--bundles', bundlesDir, '--as-of', AS_OF, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as {
      baseline: unknown;
      evaluated: number;
      before: { counts: Record<string, number> };
      after: { counts: Record<string, number> };
      changed: {
        caseId: string;
        before: { disposition: string };
        after: { disposition: string };
        criteria: unknown[];
      }[];
    };
    expect(report.baseline).toEqual({ kind: 'protocol', id: 'family-medicine-2015', version: 1 });
    expect(report.evaluated).toBe(requests.length);
    const count = (pick: (r: (typeof requests)[number]) => TriageDecision, d: string) =>
      requests.filter((r) => pick(r).disposition === d).length;
    for (const d of ['approve', 'needs_visit', 'nurse_review', 'doctor_review']) {
      expect(report.before.counts[d]).toBe(count((r) => r.reference, d));
      expect(report.after.counts[d]).toBe(count((r) => r.candidate, d));
    }
    expect(report.changed.map((c) => c.caseId)).toEqual(changed.map((c) => c.id));
    for (const c of report.changed) {
      expect(c.before.disposition).toBe('approve');
      expect(c.after.disposition).toBe('needs_visit');
      expect(c.criteria).toEqual([
        {
          id: 'visit_within_18mo',
          clause: 'PPI-1',
          before: true,
          after: false,
          explanation: expect.stringMatching(/^No PCP office visit within/) as unknown,
        },
      ]);
    }

    const text = autopilot(['simulate', file('ppi-12.json'), '--bundles', bundlesDir, '--as-of', AS_OF]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`${changed.length} cases change disposition:`);
    for (const c of changed) {
      expect(text.stdout).toContain(
        `  ${c.id}: approve → needs_visit\n    visit_within_18mo (PPI-1): passed → failed\n`,
      );
    }
    expect(text.stdout).toMatch(/^automation rate +\d+\.\d% → \d+\.\d%$/m);
  });

  test('the unchanged protocol against its built-in self changes nothing', () => {
    const r = autopilot(['simulate', REFERENCE_FILE, '--bundles', bundlesDir, '--as-of', AS_OF]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('No case changes disposition.');
  });

  test.each([
    ['an unknown --against', ['--against', 'nope'], /^autopilot: no built-in protocol "nope" \(built in: /],
    ['a bad --as-of', ['--as-of', '2026-13-01'], /^autopilot: --as-of must be a date YYYY-MM-DD, got "2026-13-01"$/],
    [
      'a --clinic option too',
      ['--from', '2026-01-01'],
      /^autopilot: protocols simulate --bundles does not take --from$/,
    ],
  ])('%s → one line on stderr, exit 2', (_name, extra, message) => {
    const r = autopilot(['simulate', file('ppi-12.json'), '--bundles', bundlesDir, ...extra]);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr.trimEnd()).toMatch(message);
  });
});

const postgresUrl = inject('postgresUrl');
const dialects = [
  { dialect: 'sqlite' as const, adminUrl: undefined, skip: false },
  { dialect: 'postgres' as const, adminUrl: postgresUrl, skip: postgresUrl === undefined },
];

describe.each(dialects)('autopilot protocols simulate --clinic on $dialect', ({ dialect, adminUrl, skip }) => {
  const CLINIC = 'cli-clinic';
  let t: TestDatabase;
  let env: Record<string, string>;
  /** Snapshot ids inside 2026-02-01..2026-03-31 whose facts and decision parse. */
  let inRange: string[];
  /** In range, with a recorded decision that today's v1 would not make (recorded under an older rule). */
  const OLD_RULE_CASE = 'rf_cli_old_rule';

  beforeAll(async () => {
    if (skip) return;
    t = await openTestDatabase(dialect, adminUrl);
    env = { DATA_DIR: t.options.dataDir, DATABASE_URL: t.options.databaseUrl ?? '' };
    const store = createStore(t.db);
    const clinic = {
      name: 'CLI Family Medicine',
      webhookSecret: 'whsec_0123456789abcdef',
      fhirBaseUrl: 'http://127.0.0.1:3001/fhir/R4',
      fhirClientId: 'autopilot',
      protocolId: 'family-medicine-2015',
      refillAutomationEnabled: true,
      nurseSlaSeconds: 14_400,
      timezone: 'UTC',
    };
    await store.clinics.upsert({ ...clinic, id: CLINIC });
    await store.clinics.upsert({ ...clinic, id: 'other-clinic' });
    inRange = [];
    // One request a day from 2026-01-15: the first 17 and the last ones fall outside Feb–Mar.
    for (const [i, r] of requests.entries()) {
      const recordedAt = new Date(Date.parse('2026-01-15T12:00:00.000Z') + i * 86_400_000).toISOString();
      await store.snapshots.put({
        caseId: `rf_cli_${r.id}`,
        clinicId: CLINIC,
        protocolId: 'family-medicine-2015',
        recordedAt,
        facts: r.facts,
        decision: r.reference,
      });
      if (recordedAt >= '2026-02-01' && recordedAt < '2026-04-01') inRange.push(`rf_cli_${r.id}`);
    }
    const approved = requests.find(
      (r) => r.reference.disposition === 'approve' && r.candidate.disposition === 'approve',
    )!;
    const edge = { facts: approved.facts, decision: { ...approved.reference, disposition: 'nurse_review' } };
    const put = (caseId: string, recordedAt: string, more: Record<string, unknown> = {}) =>
      store.snapshots.put({
        caseId,
        clinicId: CLINIC,
        protocolId: 'family-medicine-2015',
        recordedAt,
        ...edge,
        ...more,
      });
    await put(OLD_RULE_CASE, '2026-03-31T23:59:59.999Z'); // last instant of --to: included
    inRange.push(OLD_RULE_CASE);
    await put('rf_cli_after_range', '2026-04-01T00:00:00.000Z'); // first instant after --to: excluded
    await put('rf_cli_other_protocol', '2026-02-10T00:00:00.000Z', { protocolId: 'standard-chronic-care' });
    await put('rf_cli_other_clinic', '2026-02-10T00:00:00.000Z', { clinicId: 'other-clinic' });
    await put('rf_cli_old_schema', '2026-02-11T00:00:00.000Z', { facts: { a1cDays: 30 } }); // skipped
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  test.skipIf(skip)('compares with the decisions recorded at the time, within the date range', () => {
    const r = autopilot(
      ['simulate', file('ppi-12.json'), '--clinic', CLINIC, '--from', '2026-02-01', '--to', '2026-03-31', '--json'],
      env,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as {
      input: unknown;
      baseline: unknown;
      evaluated: number;
      skipped: number;
      changed: {
        caseId: string;
        recordedAt: string;
        before: { disposition: string };
        after: { disposition: string };
      }[];
    };
    expect(report.input).toEqual({ kind: 'clinic', clinicId: CLINIC, from: '2026-02-01', to: '2026-03-31' });
    expect(report.baseline).toEqual({ kind: 'recorded' });
    expect(report.evaluated).toBe(inRange.length);
    expect(report.skipped).toBe(1);
    const ppiInRange = expectedChanged()
      .map((c) => `rf_cli_${c.id}`)
      .filter((id) => inRange.includes(id));
    expect(ppiInRange.length).toBeGreaterThan(0);
    // Oldest first: the PPI cases the change moves, then the case recorded under an older rule on the last day.
    expect(report.changed.map((c) => c.caseId)).toEqual([...ppiInRange, OLD_RULE_CASE]);
    expect(report.changed.at(-1)).toMatchObject({
      before: { disposition: 'nurse_review' },
      after: { disposition: 'approve' },
    });

    const text = autopilot(
      ['simulate', file('ppi-12.json'), '--clinic', CLINIC, '--from', '2026-02-01', '--to', '2026-03-31'],
      env,
    );
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`on clinic ${CLINIC}, recorded 2026-02-01 to 2026-03-31`);
    expect(text.stdout).toContain('(1 snapshot skipped: recorded under an older schema)');
    expect(text.stdout).toContain(`  ${OLD_RULE_CASE}: nurse_review → approve\n`);
  });

  test.skipIf(skip)('--against re-evaluates a baseline protocol on the same recorded facts', () => {
    const r = autopilot(
      ['simulate', file('ppi-12.json'), '--clinic', CLINIC, '--from', '2026-02-01', '--to', '2026-03-31'].concat([
        '--against',
        'family-medicine-2015@1',
        '--json',
      ]),
      env,
    );
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { baseline: unknown; changed: { caseId: string }[] };
    expect(report.baseline).toEqual({ kind: 'protocol', id: 'family-medicine-2015', version: 1 });
    // The old-rule case no longer counts: v1 re-evaluated approves it too.
    expect(report.changed.map((c) => c.caseId)).not.toContain(OLD_RULE_CASE);
    expect(report.changed.length).toBeGreaterThan(0);
  });

  test.skipIf(skip)('an unknown clinic → one line, exit 2', () => {
    const r = autopilot(['simulate', file('ppi-12.json'), '--clinic', 'nope'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('autopilot: no clinic "nope" in the app database\n');
  });
});

test('simulate --clinic without an app database says where it looked, exit 2, and creates nothing', () => {
  const empty = mkdtempSync(join(tmpdir(), 'autopilot-no-db-'));
  try {
    const r = autopilot(['simulate', REFERENCE_FILE, '--clinic', 'demo'], { DATA_DIR: empty, DATABASE_URL: '' });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`autopilot: no app database at ${join(empty, 'app.db')} (set DATA_DIR, or DATABASE_URL)\n`);
    expect(readdirSync(empty)).toEqual([]);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});
