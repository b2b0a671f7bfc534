// Access monitoring's pure rules (rules/access/): which cases and patients an audit row touched, the access log's CSV,
// the clinic's time, and each flag heuristic on both sides of its bar.
import { describe, expect, test } from 'vitest';
import { accessLogCsv, accessSubjects, touches, type AccessEntry } from '../../rules/access/index.ts';
import {
  AccessSettingsSchema,
  DEFAULT_ACCESS_SETTINGS,
  accessFlags,
  afterHoursIntervals,
  inWorkingHours,
  localTime,
  parseFlagId,
  queuesWorkedBy,
  settingsIssues,
  type CaseView,
  type FlagInput,
  type HourCount,
  type PersonAccess,
} from '../../rules/access/flags.ts';
import { instantOfLocal } from '../../rules/zone-time.ts';

const TZ = 'America/Chicago';

describe('what an access touched', () => {
  test('a queue page: each case with its patient, in order; a case without a patient has none', () => {
    expect(
      accessSubjects({
        caseId: null,
        detail: { caseIds: ['rf_a_1', 'cg_a_p_0f', 'rf_a_2'], patientIds: ['pat-1', '', 'pat-2'] },
      }),
    ).toEqual([
      { caseId: 'rf_a_1', patientId: 'pat-1' },
      { caseId: 'cg_a_p_0f', patientId: null },
      { caseId: 'rf_a_2', patientId: 'pat-2' },
    ]);
  });

  test('a case view names its case and patient; a decision only its case; a batch both lists of cases', () => {
    expect(accessSubjects({ caseId: 'rf_a_1', detail: { patientId: 'pat-1', identity: 'shown' } })).toEqual([
      { caseId: 'rf_a_1', patientId: 'pat-1' },
    ]);
    expect(accessSubjects({ caseId: 'rf_a_1', detail: { action: 'approve' } })).toEqual([
      { caseId: 'rf_a_1', patientId: null },
    ]);
    expect(
      accessSubjects({
        caseId: null,
        detail: { signedCaseIds: ['rf_a_1'], refusedCaseIds: ['rf_a_2:changed', 'rf_a_1:changed'] },
      }),
    ).toEqual([
      { caseId: 'rf_a_1', patientId: null },
      { caseId: 'rf_a_2', patientId: null },
    ]);
    // A worker's read with a patient but no case (none here), and a sweep page with neither.
    expect(accessSubjects({ caseId: null, detail: { patientId: 'pat-9' } })).toEqual([
      { caseId: null, patientId: 'pat-9' },
    ]);
    expect(accessSubjects({ caseId: null, detail: { sweepId: 's1', encounters: 40 } })).toEqual([]);
  });

  test('filters by case and patient match exactly', () => {
    const s = [{ caseId: 'rf_a_1', patientId: 'pat-1' }];
    expect(touches(s, { caseId: 'rf_a_1' })).toBe(true);
    expect(touches(s, { caseId: 'RF_A_1' })).toBe(false);
    expect(touches(s, { caseId: 'rf_a_1', patientId: 'pat-2' })).toBe(false);
    expect(touches(s, {})).toBe(true);
  });

  test('the CSV has a line per case touched, ids only, and no formula cells', () => {
    const entry: AccessEntry = {
      id: 7,
      at: '2026-03-10T15:00:00.000Z',
      action: 'queue.listed',
      category: 'list',
      actorType: 'user',
      userId: '=cmd@x.org',
      role: 'nurse',
      clinicId: 'a',
      requestId: 'req-1',
      callerRequestId: null,
      subjects: [
        { caseId: 'rf_a_1', patientId: 'pat-1' },
        { caseId: 'rf_a_2', patientId: null },
      ],
    };
    const csv = accessLogCsv([entry, { ...entry, id: 8, action: 'ehr.panel_page_read', subjects: [] }]);
    expect(csv.split('\r\n')).toEqual([
      'at,user_id,role,actor_type,action,category,clinic_id,case_id,patient_id,request_id,caller_request_id,audit_id',
      "2026-03-10T15:00:00.000Z,'=cmd@x.org,nurse,user,queue.listed,list,a,rf_a_1,pat-1,req-1,,7",
      "2026-03-10T15:00:00.000Z,'=cmd@x.org,nurse,user,queue.listed,list,a,rf_a_2,,req-1,,7",
      "2026-03-10T15:00:00.000Z,'=cmd@x.org,nurse,user,ehr.panel_page_read,list,a,,,req-1,,8",
      '',
    ]);
  });
});

describe('the clinic’s time', () => {
  test('local wall time and weekday of an instant, across the spring DST change', () => {
    expect(localTime('2026-03-08T07:59:00Z', TZ)).toEqual({ date: '2026-03-08', time: '01:59', weekday: 7 });
    expect(localTime('2026-03-08T08:00:00Z', TZ)).toEqual({ date: '2026-03-08', time: '03:00', weekday: 7 });
    expect(instantOfLocal('2026-03-09', '07:00', TZ)).toBe('2026-03-09T12:00:00.000Z'); // CDT, UTC−5
    expect(instantOfLocal('2026-03-06', '07:00', TZ)).toBe('2026-03-06T13:00:00.000Z'); // CST, UTC−6
  });

  test('working hours: weekdays 07:00–19:00 local, end exclusive', () => {
    const h = DEFAULT_ACCESS_SETTINGS.workingHours;
    expect(inWorkingHours('2026-03-10T12:00:00Z', TZ, h)).toBe(true); // Tue 07:00 CDT
    expect(inWorkingHours('2026-03-10T11:59:00Z', TZ, h)).toBe(false); // Tue 06:59
    expect(inWorkingHours('2026-03-11T00:00:00Z', TZ, h)).toBe(false); // Tue 19:00
    expect(inWorkingHours('2026-03-14T15:00:00Z', TZ, h)).toBe(false); // Sat 10:00
  });

  test('the stretches outside working hours cover nights and weekends, joined where they touch', () => {
    expect(afterHoursIntervals('2026-03-06', '2026-03-09', TZ, DEFAULT_ACCESS_SETTINGS.workingHours)).toEqual([
      { start: '2026-03-06T06:00:00.000Z', end: '2026-03-06T13:00:00.000Z' }, // Fri 00:00–07:00 CST
      { start: '2026-03-07T01:00:00.000Z', end: '2026-03-09T12:00:00.000Z' }, // Fri 19:00 – Mon 07:00 CDT
      { start: '2026-03-10T00:00:00.000Z', end: '2026-03-10T05:00:00.000Z' }, // Mon 19:00 – Tue 00:00
    ]);
  });
});

describe('settings', () => {
  test('defaults are valid; the bounds are the schema’s; working hours must run forward, each day once', () => {
    expect(AccessSettingsSchema.parse(DEFAULT_ACCESS_SETTINGS)).toEqual(DEFAULT_ACCESS_SETTINGS);
    expect(settingsIssues(DEFAULT_ACCESS_SETTINGS)).toEqual([]);
    expect(AccessSettingsSchema.safeParse({ ...DEFAULT_ACCESS_SETTINGS, rateMultiplier: 1 }).success).toBe(false);
    expect(
      AccessSettingsSchema.safeParse({
        ...DEFAULT_ACCESS_SETTINGS,
        workingHours: { start: '7:00', end: '19:00', days: [] },
      }).success,
    ).toBe(false);
    expect(
      settingsIssues({ ...DEFAULT_ACCESS_SETTINGS, workingHours: { start: '19:00', end: '07:00', days: [1, 1] } }),
    ).toEqual([
      { path: '$.workingHours.end', message: 'after start, on the same day' },
      { path: '$.workingHours.days', message: 'each day once' },
    ]);
  });
});

describe('the queues a role works', () => {
  test('from the lifecycle: where the role decides, the signature queue for delegates; admins none', () => {
    expect(queuesWorkedBy('nurse')).toEqual(['signature', 'nurse', 'outreach']);
    expect(queuesWorkedBy('doctor')).toEqual(['signature', 'nurse', 'doctor', 'outreach', 'cosign']);
    expect(queuesWorkedBy('pharmacist')).toEqual(['signature', 'nurse']);
    expect(queuesWorkedBy('pa')).toEqual(['signature', 'nurse', 'doctor']);
    expect(queuesWorkedBy('admin')).toEqual([]);
    expect(queuesWorkedBy('privacy')).toEqual([]);
    expect(queuesWorkedBy(null)).toEqual([]);
  });
});

// A window of two local days (Tue–Wed, 2026-03-10/11, Chicago on CDT), and its defaults.
const base: FlagInput = {
  timeZone: TZ,
  from: '2026-03-10',
  to: '2026-03-11',
  settings: DEFAULT_ACCESS_SETTINGS,
  views: [],
  decided: new Set(),
  hourly: [],
  afterHours: [],
  caseViews: [],
};
let nextId = 1;
const view = (at: string, userId: string, role: string, caseId: string, queue: string | null = 'nurse'): CaseView => ({
  auditId: nextId++,
  at,
  userId,
  role,
  caseId,
  patientId: `pat-${caseId}`,
  queue,
});

describe('flag: viewing cases outside the queues the role works', () => {
  test('a nurse viewing doctor-queue cases is flagged once for the day, with every view as evidence', () => {
    const views = [
      view('2026-03-10T15:00:00Z', 'ana', 'nurse', 'c1', 'doctor'),
      view('2026-03-10T16:00:00Z', 'ana', 'nurse', 'c2', 'cosign'),
      view('2026-03-10T16:30:00Z', 'ana', 'nurse', 'c3', 'nurse'), // her own queue
      view('2026-03-10T17:00:00Z', 'bo', 'doctor', 'c1', 'doctor'),
    ];
    const flags = accessFlags({ ...base, views });
    expect(flags).toHaveLength(1);
    expect(flags[0]).toMatchObject({
      id: 'outside_queues:2026-03-10:ana',
      kind: 'outside_queues',
      at: '2026-03-10T15:00:00Z',
      userId: 'ana',
      role: 'nurse',
      caseId: null,
      reason:
        'Viewed 2 cases in the cosign, doctor queues, outside the queues a nurse works (signature, nurse, outreach)',
    });
    expect(flags[0]!.evidence.accesses.map((a) => a.caseId)).toEqual(['c1', 'c2']);
    expect(flags[0]!.evidence.total).toBe(2);
  });

  test('not flagged: a case the person decided themselves, a case in no queue; an admin works no queue', () => {
    const flags = accessFlags({
      ...base,
      views: [
        view('2026-03-10T15:00:00Z', 'ana', 'nurse', 'c1', 'doctor'),
        view('2026-03-10T15:05:00Z', 'ana', 'nurse', 'c2', null),
        view('2026-03-10T15:10:00Z', 'root', 'admin', 'c2', 'nurse'),
      ],
      decided: new Set(['c1\nana']),
    });
    expect(flags.map((f) => f.id)).toEqual(['outside_queues:2026-03-10:root']);
    expect(flags[0]!.reason).toBe('Viewed 1 case in the nurse queue, though an admin works no queue');
    expect(flags[0]).toMatchObject({ caseId: 'c2', patientId: 'pat-c2' });
  });
});

describe('flag: more cases in an hour than 3× the person’s own median, above a floor', () => {
  // 10 active hours before the window with 8 cases each: median 8, so the bar is max(20, 3 × 8) = 24.
  const history: HourCount[] = Array.from({ length: 10 }, (_, i) => ({
    userId: 'ana',
    hour: `2026-03-0${(i % 9) + 1}T1${i % 5}`,
    cases: 8,
  }));

  test('25 cases in one hour is flagged with the median, the bar and the hour’s views', () => {
    const hour = '2026-03-10T15';
    const views = Array.from({ length: 25 }, (_, i) =>
      view(`${hour}:${String(i).padStart(2, '0')}:00.000Z`, 'ana', 'nurse', `c${i}`),
    );
    const flags = accessFlags({ ...base, views, hourly: [...history, { userId: 'ana', hour, cases: 25 }] });
    expect(flags).toHaveLength(1);
    expect(flags[0]).toMatchObject({
      id: 'rate:2026-03-10T15:ana',
      kind: 'rate',
      at: '2026-03-10T15:00:00.000Z',
      day: '2026-03-10',
      evidence: { casesInHour: 25, median: 8, baselineHours: 10, threshold: 24, total: 25 },
    });
    expect(flags[0]!.reason).toBe(
      'Viewed 25 cases in one hour: more than 3 × their own median of 8 per active hour over the 30 days before (and the floor of 20)',
    );
  });

  test('24 (the bar itself) is not flagged; nor is a quiet person’s busy hour below the floor', () => {
    const hourly = [...history, { userId: 'ana', hour: '2026-03-10T15', cases: 24 }];
    expect(accessFlags({ ...base, hourly })).toEqual([]);
    const quiet: HourCount[] = [
      { userId: 'bo', hour: '2026-03-09T10', cases: 1 },
      { userId: 'bo', hour: '2026-03-10T15', cases: 20 },
    ];
    expect(accessFlags({ ...base, hourly: quiet })).toEqual([]);
    // Without any history, the floor alone decides.
    const flags = accessFlags({ ...base, hourly: [{ userId: 'cy', hour: '2026-03-10T15', cases: 21 }] });
    expect(flags.map((f) => [f.id, f.evidence.median, f.evidence.threshold])).toEqual([
      ['rate:2026-03-10T15:cy', null, 20],
    ]);
  });

  test('history older than the baseline days and hours after the one judged do not count', () => {
    const hourly = [
      { userId: 'ana', hour: '2026-01-01T10', cases: 100 }, // more than 30 days before
      { userId: 'ana', hour: '2026-03-10T15', cases: 21 },
      { userId: 'ana', hour: '2026-03-10T16', cases: 200 },
    ];
    const flags = accessFlags({ ...base, hourly });
    expect(flags.map((f) => [f.id, f.evidence.median])).toEqual([
      ['rate:2026-03-10T15:ana', null],
      ['rate:2026-03-10T16:ana', 21],
    ]);
  });
});

describe('flag: access outside working hours', () => {
  const access = (at: string, userId: string, caseId: string): PersonAccess => ({
    auditId: nextId++,
    at,
    userId,
    role: 'doctor',
    action: 'case.viewed',
    subjects: [{ caseId, patientId: `pat-${caseId}` }],
  });

  test('accesses at night are one flag per person and local day; daytime ones and empty pages are ignored', () => {
    const flags = accessFlags({
      ...base,
      afterHours: [
        access('2026-03-11T03:10:00Z', 'bo', 'c1'), // Tue 22:10 CDT
        access('2026-03-11T03:40:00Z', 'bo', 'c2'), // Tue 22:40
        access('2026-03-10T15:00:00Z', 'bo', 'c3'), // Tue 10:00: working hours
        { ...access('2026-03-11T03:50:00Z', 'bo', 'c4'), action: 'queue.listed', subjects: [] }, // an empty page
      ],
    });
    expect(flags).toHaveLength(1);
    expect(flags[0]).toMatchObject({ id: 'after_hours:2026-03-10:bo', day: '2026-03-10', userId: 'bo' });
    expect(flags[0]!.reason).toBe(
      '2 accesses to patient data between 22:10 and 22:40 (America/Chicago), outside working hours (Mon Tue Wed Thu Fri 07:00–19:00), touching 2 cases',
    );
    expect(flags[0]!.evidence.accesses.map((a) => a.caseId)).toEqual(['c1', 'c2']);
  });

  test('the clinic’s own hours decide: a clinic open on Saturdays is not flagged then', () => {
    const settings = {
      ...DEFAULT_ACCESS_SETTINGS,
      workingHours: { start: '08:00', end: '20:00', days: [1, 2, 3, 4, 5, 6] },
    };
    const saturday = access('2026-03-14T15:00:00Z', 'bo', 'c1'); // Sat 10:00 CDT
    expect(accessFlags({ ...base, from: '2026-03-14', to: '2026-03-14', afterHours: [saturday] })).toHaveLength(1);
    expect(accessFlags({ ...base, from: '2026-03-14', to: '2026-03-14', afterHours: [saturday], settings })).toEqual(
      [],
    );
  });
});

describe('flag: a case viewed by many different people', () => {
  test('flagged at the view by which the fifth person arrived, with every viewer', () => {
    const caseViews = ['a', 'b', 'a', 'c', 'd', 'e', 'f'].map((u, i) =>
      view(`2026-03-10T1${i}:00:00Z`, u, 'nurse', 'c1'),
    );
    const flags = accessFlags({ ...base, caseViews });
    expect(flags).toHaveLength(1);
    expect(flags[0]).toMatchObject({
      id: 'many_viewers:2026-03-10:c1',
      at: '2026-03-10T15:00:00Z',
      caseId: 'c1',
      patientId: 'pat-c1',
      reason: '6 different people viewed this case (the bar is 5); roles: nurse',
    });
    expect(flags[0]!.evidence.viewers?.map((v) => v.userId)).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
  });

  test('four people are below the bar; a case that crossed it before the window is not raised again', () => {
    const four = ['a', 'b', 'c', 'd'].map((u, i) => view(`2026-03-10T1${i}:00:00Z`, u, 'nurse', 'c1'));
    expect(accessFlags({ ...base, caseViews: four })).toEqual([]);
    const earlier = ['a', 'b', 'c', 'd', 'e'].map((u, i) => view(`2026-03-0${i + 1}T15:00:00Z`, u, 'nurse', 'c2'));
    expect(accessFlags({ ...base, caseViews: [...earlier, view('2026-03-10T15:00:00Z', 'f', 'nurse', 'c2')] })).toEqual(
      [],
    );
  });
});

describe('flag ids', () => {
  test('name the kind and the days a review looks in', () => {
    expect(parseFlagId('outside_queues:2026-03-10:ana@x.org')).toEqual({
      kind: 'outside_queues',
      from: '2026-03-10',
      to: '2026-03-10',
    });
    expect(parseFlagId('rate:2026-03-10T15:ana')).toEqual({ kind: 'rate', from: '2026-03-09', to: '2026-03-11' });
    expect(parseFlagId('many_viewers:2026-03-10:rf_a_mr-1')).toMatchObject({ kind: 'many_viewers' });
    for (const bad of [
      'rate:2026-03-10:ana',
      'after_hours:2026-03-10T15:ana',
      'other:2026-03-10:x',
      'after_hours:x:y',
    ]) {
      expect(parseFlagId(bad)).toBeNull();
    }
  });
});
