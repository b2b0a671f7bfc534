// Spawns the real CLI (node bin/autopilot.mjs …) on fixture bundles: what a user or a script sees.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const fixture = (name: string): string => `test/fixtures/bundles/cli-${name}.json`;

function autopilot(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/autopilot.mjs', ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const triage = (name: string, asOf = '2026-06-15') => autopilot('triage', '--bundle', fixture(name), '--as-of', asOf);
const PROTOCOL = { id: 'family-medicine-2015', version: 1 };

describe('autopilot triage', () => {
  test.each([
    [
      'approve',
      {
        disposition: 'approve',
        failedCriteria: [],
        approvedSupply: { renewalMonths: 12 },
        bridgeSupply: null,
        routeTo: null,
        actions: [],
      },
    ],
    [
      'needs-visit-mail-order',
      {
        disposition: 'needs_visit',
        failedCriteria: ['office_visit_within_12mo'],
        approvedSupply: null,
        bridgeSupply: { quantity: 90, refills: 0 },
        routeTo: null,
        actions: [],
      },
    ],
    [
      'u500',
      {
        disposition: 'doctor_review',
        failedCriteria: ['u500_to_endocrinology'],
        approvedSupply: null,
        bridgeSupply: null,
        routeTo: 'endocrinology',
        actions: [],
      },
    ],
    [
      'warfarin',
      {
        disposition: 'nurse_review',
        failedCriteria: ['warfarin_to_protime_nurse'],
        approvedSupply: null,
        bridgeSupply: null,
        routeTo: 'protime_nurse_pool',
        actions: [],
      },
    ],
    [
      'prn-inhaler',
      {
        disposition: 'approve',
        failedCriteria: [],
        approvedSupply: { quantity: 1, refills: 2 },
        bridgeSupply: null,
        routeTo: null,
        actions: [],
      },
    ],
    [
      'diabetes-actions',
      {
        disposition: 'approve',
        failedCriteria: [],
        approvedSupply: { renewalMonths: 12 },
        bridgeSupply: null,
        routeTo: null,
        actions: ['order_hba1c', 'order_lipid_panel', 'order_urine_microalbumin'],
      },
    ],
    [
      'antidepressant-new-start',
      {
        disposition: 'needs_visit',
        failedCriteria: ['no_refill_within_6mo_of_start'],
        approvedSupply: null,
        bridgeSupply: null,
        routeTo: null,
        actions: [],
      },
    ],
  ])('%s: prints exactly the decision on stdout', (name, expected) => {
    const r = triage(name);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ ...expected, protocol: PROTOCOL });
    expect(Object.keys(JSON.parse(r.stdout) as object)).toEqual([
      'disposition',
      'failedCriteria',
      'approvedSupply',
      'bridgeSupply',
      'routeTo',
      'actions',
      'protocol',
    ]);
  });

  test('--as-of moves the windows: the same bundle needs a visit two years later', () => {
    expect(JSON.parse(triage('approve', '2028-06-15').stdout)).toMatchObject({
      disposition: 'needs_visit',
      failedCriteria: ['visit_within_18mo'],
    });
  });

  test('--as-of defaults to today and --protocol to family-medicine-2015', () => {
    const r = autopilot('triage', '--bundle', fixture('seasonal-allergy'));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ disposition: 'approve', protocol: PROTOCOL });
  });

  test('--help prints usage', () => {
    const r = autopilot('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('autopilot triage --bundle <file.json>');
  });

  test.each([
    [
      'a missing file',
      ['triage', '--bundle', 'test/fixtures/bundles/does-not-exist.json'],
      /^autopilot: cannot read .*does-not-exist\.json \(ENOENT\)$/,
    ],
    [
      'bad JSON',
      ['triage', '--bundle', 'test/fixtures/bundles/cli-not-json.txt'],
      /^autopilot: test\/fixtures\/bundles\/cli-not-json\.txt is not valid JSON: /,
    ],
    ['not a Bundle', ['triage', '--bundle', fixture('not-a-bundle')], /^autopilot: invalid bundle: \$\.resourceType: /],
    [
      'no refill request',
      ['triage', '--bundle', fixture('no-request')],
      /^autopilot: invalid bundle: \$\.entry: no refill request \(MedicationRequest with intent "proposal"\) in the bundle$/,
    ],
    [
      'a malformed resource',
      ['triage', '--bundle', fixture('invalid-encounter')],
      /^autopilot: invalid bundle: \$\.entry\[7\]\.resource\.status: /,
    ],
    [
      'a bad date',
      ['triage', '--bundle', fixture('approve'), '--as-of', '2026-02-30'],
      /^autopilot: --as-of must be a date YYYY-MM-DD, got "2026-02-30"$/,
    ],
    [
      'an unknown protocol',
      ['triage', '--bundle', fixture('approve'), '--protocol', 'nope'],
      /^autopilot: unknown protocol "nope"/,
    ],
    [
      'an unknown flag',
      ['triage', '--bundle', fixture('approve'), '--verbose'],
      /^autopilot: Unknown option '--verbose'/,
    ],
    ['no --bundle', ['triage'], /^autopilot: --bundle <file\.json> is required$/],
    ['no command', ['--bundle', fixture('approve')], /^autopilot: missing command "triage"$/],
  ])('%s → one line on stderr, exit 2', (_name, args, message) => {
    const r = autopilot(...args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr.trimEnd()).toMatch(message);
  });
});
