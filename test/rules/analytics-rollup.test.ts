// What one closed case adds to the daily analytics rollup (rules/analytics closedCaseEntries and its helpers): pure,
// no database. The database half (kept by case steps, equal to the live read) is test/connectors/db-analytics-rollup.
import { describe, expect, test } from 'vitest';
import {
  bucketLabelsByDay,
  cellsOfRollup,
  closedCaseEntries,
  failedFindingsOf,
  localDateOf,
  turnaroundBucket,
  type ClosedCase,
} from '../../rules/analytics/index.ts';

const REFILL: ClosedCase = {
  kind: 'refill',
  protocolId: 'family-medicine-2015',
  protocolVersion: 2,
  disposition: 'nurse_review',
  queue: 'doctor',
  reason: 'escalated_by_nurse',
  outcome: 'approved',
  escalated: true,
  // 2026-03-08 05:30Z is still 2026-03-07 in Chicago (23:30 CST); the change to daylight time is at 08:00Z.
  createdAt: '2026-03-08T05:30:00.000Z',
  closedAt: '2026-03-08T07:45:10.000Z',
  decision: JSON.stringify({ failedCriteria: ['bp_controlled', 'lab_k_within_12mo', 'bp_controlled'] }),
  clause: null,
};

describe('local days', () => {
  test('an instant’s local date follows the zone, across the DST change', () => {
    expect(localDateOf('2026-03-08T05:30:00.000Z', 'America/Chicago')).toBe('2026-03-07');
    expect(localDateOf('2026-03-08T06:00:00.000Z', 'America/Chicago')).toBe('2026-03-08');
    expect(localDateOf('2026-03-09T04:59:59.999Z', 'America/Chicago')).toBe('2026-03-08');
    expect(localDateOf('2026-03-09T05:00:00.000Z', 'America/Chicago')).toBe('2026-03-09');
    expect(localDateOf('2026-03-08T18:29:59.000Z', 'Asia/Kolkata')).toBe('2026-03-08');
    expect(localDateOf('2026-03-08T18:30:00.000Z', 'Asia/Kolkata')).toBe('2026-03-09');
  });

  test('each day of a range is labelled with its bucket: itself, or its week’s Monday', () => {
    expect([...bucketLabelsByDay('2026-03-06', '2026-03-09', 'day')]).toEqual([
      ['2026-03-06', '2026-03-06'],
      ['2026-03-07', '2026-03-07'],
      ['2026-03-08', '2026-03-08'],
      ['2026-03-09', '2026-03-09'],
    ]);
    // 2026-03-09 is a Monday.
    expect([...bucketLabelsByDay('2026-03-06', '2026-03-09', 'week')]).toEqual([
      ['2026-03-06', '2026-03-02'],
      ['2026-03-07', '2026-03-02'],
      ['2026-03-08', '2026-03-02'],
      ['2026-03-09', '2026-03-09'],
    ]);
  });
});

test('turnaround is kept to the second under an hour, the minute under a day, else the hour', () => {
  expect([59, 3599, 3600, 3661, 86_399, 86_400, 90_061].map(turnaroundBucket)).toEqual([
    59, 3599, 3600, 3660, 86_340, 86_400, 90_000,
  ]);
});

describe('what a closed case adds', () => {
  const tallies = [
    { role: 'nurse', decisions: 1 },
    { role: 'doctor', decisions: 2 },
    { role: null, decisions: 1 },
  ];
  const entries = closedCaseEntries(REFILL, tallies, 'America/Chicago');
  const cells = (metric: string) =>
    entries.filter((e) => e.metric === metric).map((e) => [JSON.parse(e.cell) as unknown, e.n, e.m]);

  test('every entry is on the clinic-local day of receipt and carries the protocol', () => {
    expect(new Set(entries.map((e) => e.day))).toEqual(new Set(['2026-03-07']));
    expect(new Set(entries.map((e) => e.protocolId))).toEqual(new Set(['family-medicine-2015']));
  });

  test('one case cell: its fields, escalated, and a physician’s decision among its records', () => {
    expect(cells('case')).toEqual([
      [['refill', 'family-medicine-2015', 2, 'nurse_review', 'doctor', 'escalated_by_nurse', 'approved', 1, 1], 1, 0],
    ]);
    const nursesOnly = closedCaseEntries(REFILL, [{ role: 'nurse', decisions: 3 }], 'America/Chicago');
    expect(JSON.parse(nursesOnly.find((e) => e.metric === 'case')!.cell)).toEqual([
      'refill',
      'family-medicine-2015',
      2,
      'nurse_review',
      'doctor',
      'escalated_by_nurse',
      'approved',
      1,
      0,
    ]);
  });

  test('one role cell per role that decided, with its decisions; a record without a role is "unknown"', () => {
    expect(cells('role')).toEqual([
      [['refill', 'family-medicine-2015', 2, 'nurse'], 1, 1],
      [['refill', 'family-medicine-2015', 2, 'doctor'], 1, 2],
      [['refill', 'family-medicine-2015', 2, 'unknown'], 1, 1],
    ]);
  });

  test('the turnaround, from receipt to close (2 h 15 min 10 s → to the minute)', () => {
    expect(cells('turnaround')).toEqual([[['doctor', 'family-medicine-2015'], 1, 0]]);
    expect(entries.find((e) => e.metric === 'turnaround')!.hist).toEqual({ 8100: 1 });
    const open = closedCaseEntries({ ...REFILL, closedAt: null }, [], 'America/Chicago');
    expect(open.some((e) => e.metric === 'turnaround')).toBe(false);
  });

  test('each failed criterion once, for a disposition a person reviews', () => {
    expect(cells('finding')).toEqual([
      [['refill', 'family-medicine-2015', 'bp_controlled'], 1, 0],
      [['refill', 'family-medicine-2015', 'lab_k_within_12mo'], 1, 0],
    ]);
    // An approval per protocol is automated: nothing listed, whatever the decision says.
    const approved = closedCaseEntries({ ...REFILL, disposition: 'approve' }, [], 'America/Chicago');
    expect(approved.some((e) => e.metric === 'finding')).toBe(false);
  });

  test('a care gap’s findings are its deciding clause; a closed-by-data gap lists none', () => {
    const gap: ClosedCase = {
      ...REFILL,
      kind: 'care-gap',
      protocolId: 'crc-screening-2021',
      disposition: 'doctor_review',
      clause: 'CRC-10',
      decision: null,
    };
    expect(failedFindingsOf(gap)).toBe('CRC-10');
    expect(failedFindingsOf({ ...gap, disposition: 'gap_closed' })).toBeNull();
  });

  test('a decision whose array is unreadable lists nothing rather than failing', () => {
    expect(failedFindingsOf({ ...REFILL, decision: '{not json' })).toBeNull();
    expect(failedFindingsOf({ ...REFILL, decision: '{}' })).toBeNull();
    expect(failedFindingsOf({ ...REFILL, decision: '{"failedCriteria":"visit_within_12mo"}' })).toBe(
      'visit_within_12mo',
    );
  });
});

test('rollup rows become the cells aggregate() reads, each day under its bucket; other days and zero rows skipped', () => {
  const entries = closedCaseEntries(REFILL, [{ role: 'doctor', decisions: 1 }], 'America/Chicago');
  const rows = [
    ...entries.map((e) => ({
      day: e.day,
      metric: e.metric,
      cell: e.cell,
      n: 2,
      m: e.m,
      hist: e.hist ? JSON.stringify({ 8100: 2, 60: 0 }) : null,
    })),
    { day: '2026-03-01', metric: 'case', cell: entries[0]!.cell, n: 5, m: 0, hist: null },
    { day: '2026-03-08', metric: 'case', cell: entries[0]!.cell, n: 0, m: 0, hist: null },
  ];
  const out = cellsOfRollup(rows, bucketLabelsByDay('2026-03-06', '2026-03-09', 'week'));
  expect(out.cases).toEqual([
    {
      bucket: '2026-03-02',
      kind: 'refill',
      protocolId: 'family-medicine-2015',
      protocolVersion: 2,
      disposition: 'nurse_review',
      status: 'closed',
      queue: 'doctor',
      reason: 'escalated_by_nurse',
      outcome: 'approved',
      escalated: true,
      overdue: false,
      physicianActed: true,
      n: 2,
    },
  ]);
  expect(out.roles).toEqual([
    {
      bucket: '2026-03-02',
      kind: 'refill',
      protocolId: 'family-medicine-2015',
      protocolVersion: 2,
      role: 'doctor',
      cases: 2,
      decisions: 1,
    },
  ]);
  expect(out.turnaround).toEqual([{ queue: 'doctor', seconds: 8100, n: 2 }]);
  expect(out.findings.map((f) => f.findings)).toEqual(['bp_controlled', 'lab_k_within_12mo']);
});
