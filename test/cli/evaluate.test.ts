// Spawns the real CLI (node bin/autopilot.mjs evaluate …) on fixture bundles: what a user or a script sees.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bundle = (name: string): string => `test/fixtures/bundles/${name}.json`;

function autopilot(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/autopilot.mjs', ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const evaluate = (name: string, ...more: string[]) =>
  autopilot('evaluate', '--protocol', 'crc-screening-2021', '--bundle', bundle(name), '--as-of', '2026-06-15', ...more);
const PROTOCOL = { id: 'crc-screening-2021', version: 1 };

describe('autopilot evaluate (care gap)', () => {
  test('a positive FIT after an old colonoscopy: urgent doctor review, GI referral pended', () => {
    const r = evaluate('care-gap-positive-fit');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      disposition: 'doctor_review',
      clause: 'CRC-8',
      reasons: [
        {
          id: 'positive_stool_test_without_colonoscopy',
          evidence: [
            {
              resourceType: 'Observation',
              id: 'fit-pos',
              date: '2026-05-02',
              value: 'positive',
              display: 'FIT / FOBT',
            },
            { resourceType: 'Procedure', id: 'colo-2017', date: '2017-04-20', display: 'Colonoscopy' },
          ],
        },
      ],
      priority: 'urgent',
      routeTo: 'gi_followup',
      nextDueDate: null,
      actions: ['pend_gi_referral'],
      protocol: PROTOCOL,
    });
  });

  test('up to date: gap closed, next due at the latest test + window (day clamped)', () => {
    const r = evaluate('care-gap-up-to-date');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(out).toMatchObject({
      disposition: 'gap_closed',
      clause: 'CRC-10',
      priority: 'routine',
      routeTo: null,
      nextDueDate: '2030-01-31',
      actions: [],
      protocol: PROTOCOL,
    });
    expect(Object.keys(out)).toEqual([
      'disposition',
      'clause',
      'reasons',
      'priority',
      'routeTo',
      'nextDueDate',
      'actions',
      'protocol',
    ]);
    expect(
      (out.reasons as { id: string; evidence: { id: string }[] }[]).map((x) => [x.id, x.evidence.map((e) => e.id)]),
    ).toEqual([['screening_up_to_date', ['fit-neg', 'colo-2020']]]);
  });

  test('due: outreach with the pended FIT order and the mailing; --as-of moves the windows', () => {
    expect(JSON.parse(evaluate('care-gap-outreach').stdout)).toMatchObject({
      disposition: 'outreach',
      clause: 'CRC-17',
      reasons: [{ id: 'screening_due', evidence: [{ resourceType: 'Patient', id: 'pat-cg-1' }] }],
      actions: ['pend_fit_order', 'mail_fit_outreach'],
    });
    const earlier = autopilot(
      'evaluate',
      '--protocol',
      'crc-screening-2021',
      '--bundle',
      bundle('care-gap-outreach'),
      '--as-of',
      '2025-11-02',
    );
    expect(JSON.parse(earlier.stdout)).toMatchObject({ clause: 'CRC-10', nextDueDate: '2025-11-02' });
  });

  test('--patient picks one patient of several', () => {
    expect(JSON.parse(evaluate('care-gap-two-patients', '--patient', 'pat-a').stdout)).toMatchObject({
      disposition: 'not_applicable',
      clause: 'CRC-1',
      reasons: [{ id: 'age_under_45' }],
    });
    expect(JSON.parse(evaluate('care-gap-two-patients', '--patient', 'pat-b').stdout)).toMatchObject({
      clause: 'CRC-17',
    });
  });
});

describe('autopilot evaluate (refill)', () => {
  test('prints exactly what autopilot triage prints', () => {
    for (const name of ['cli-approve', 'cli-warfarin']) {
      const triage = autopilot('triage', '--bundle', bundle(name), '--as-of', '2026-06-15');
      const r = autopilot(
        'evaluate',
        '--protocol',
        'family-medicine-2015',
        '--bundle',
        bundle(name),
        '--as-of',
        '2026-06-15',
      );
      expect(r.code).toBe(0);
      expect(triage.code).toBe(0);
      expect(r.stdout).toBe(triage.stdout);
    }
  });
});

describe('autopilot evaluate: bad input exits 2 with one line', () => {
  test.each([
    [
      ['--protocol', 'nope', '--bundle', bundle('care-gap-outreach')],
      /^autopilot: unknown protocol "nope" \(built in: crc-screening-2021, family-medicine-2015, standard-chronic-care\)\n$/,
    ],
    [
      ['--protocol', 'crc-screening-2021', '--bundle', bundle('cli-not-a-bundle')],
      /^autopilot: invalid bundle: \$\.resourceType: .+\n$/,
    ],
    [
      ['--protocol', 'crc-screening-2021', '--bundle', 'test/fixtures/bundles/cli-not-json.txt'],
      /^autopilot: .+ is not valid JSON: .+\n$/,
    ],
    [
      ['--protocol', 'crc-screening-2021', '--bundle', bundle('care-gap-two-patients')],
      /^autopilot: invalid bundle: \$\.entry: the bundle holds 2 patients: say which with a patient id\n$/,
    ],
    [
      ['--protocol', 'crc-screening-2021', '--bundle', bundle('care-gap-two-patients'), '--patient', 'pat-z'],
      /^autopilot: invalid bundle: \$\.entry: no Patient with id "pat-z" in the bundle\n$/,
    ],
    [
      ['--protocol', 'crc-screening-2021', '--bundle', bundle('care-gap-outreach'), '--as-of', '2026-02-30'],
      /^autopilot: --as-of must be a date YYYY-MM-DD, got "2026-02-30"\n$/,
    ],
    [
      ['--protocol', 'crc-screening-2021', '--bundle', 'test/fixtures/bundles/missing.json'],
      /^autopilot: cannot read .+ \(ENOENT\)\n$/,
    ],
    [['--bundle', bundle('care-gap-outreach')], /^autopilot: --protocol <id> is required\n$/],
    [
      ['--protocol', 'family-medicine-2015', '--bundle', bundle('cli-approve'), '--patient', 'x'],
      /^autopilot: --patient is for care-gap protocols/,
    ],
    [
      ['--protocol', 'crc-screening-2021', '--bundle', bundle('care-gap-outreach'), '--bogus'],
      /^autopilot: Unknown option '--bogus'/,
    ],
  ])('%j', (args, message) => {
    const r = autopilot('evaluate', ...args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
