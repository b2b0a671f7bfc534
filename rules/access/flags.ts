// The access flags (issue 10 §3): four heuristics over a clinic's access rows that point a privacy officer at access
// worth a look. They are signals for a person, not verdicts: each flag carries its evidence and one sentence of why,
// and a person marks it reviewed with a note. Pure: the store reads the rows (connectors/db/access.ts), the clinic's
// thresholds are its settings (below, with defaults).
import { z } from 'zod';
import { startOfLocalDay } from '../analytics/index.ts';
import { instantOfLocal, zoneParts } from '../zone-time.ts';
import { QUEUES, QUEUE_ROLES, ROLE_NOUNS, SIGNING_DELEGATES, type Queue, type Role } from '../lifecycle/index.ts';
import type { AccessSubject } from './index.ts';

export const FLAG_KINDS = ['outside_queues', 'rate', 'after_hours', 'many_viewers'] as const;
export type FlagKind = (typeof FLAG_KINDS)[number];

// ---------------------------------------------------------------------------------------------------------------
// Settings: the clinic's thresholds

/** The bounds of each setting (the API's schema declares the same). */
export const SETTING_BOUNDS = {
  rateMultiplier: { min: 1.5, max: 20 },
  rateFloorPerHour: { min: 1, max: 1000 },
  rateBaselineDays: { min: 7, max: 90 },
  viewersPerCase: { min: 2, max: 100 },
} as const;

const HHMM = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM, 24-hour');

export const AccessSettingsSchema = z.strictObject({
  /** The clinic's working hours, in its time zone: from `start` to `end` (exclusive) on `days` (ISO: 1 Monday). */
  workingHours: z.strictObject({
    start: HHMM,
    end: HHMM,
    days: z.array(z.number().int().min(1).max(7)).max(7),
  }),
  /** A person's hour is flagged above this multiple of their own median … */
  rateMultiplier: z.number().min(SETTING_BOUNDS.rateMultiplier.min).max(SETTING_BOUNDS.rateMultiplier.max),
  /** … and above this many distinct cases in the hour, whatever their median. */
  rateFloorPerHour: z.number().int().min(SETTING_BOUNDS.rateFloorPerHour.min).max(SETTING_BOUNDS.rateFloorPerHour.max),
  /** The days before the hour their median is taken over. */
  rateBaselineDays: z.number().int().min(SETTING_BOUNDS.rateBaselineDays.min).max(SETTING_BOUNDS.rateBaselineDays.max),
  /** A case is flagged when this many different people have viewed it. */
  viewersPerCase: z.number().int().min(SETTING_BOUNDS.viewersPerCase.min).max(SETTING_BOUNDS.viewersPerCase.max),
});
export type AccessSettings = z.infer<typeof AccessSettingsSchema>;

export const DEFAULT_ACCESS_SETTINGS: AccessSettings = {
  workingHours: { start: '07:00', end: '19:00', days: [1, 2, 3, 4, 5] },
  rateMultiplier: 3,
  rateFloorPerHour: 20,
  rateBaselineDays: 30,
  viewersPerCase: 5,
};

/** What the schema cannot say: working hours run forward within a day, each day once. JSON paths of the problems. */
export function settingsIssues(s: AccessSettings): { path: string; message: string }[] {
  const issues: { path: string; message: string }[] = [];
  if (s.workingHours.end <= s.workingHours.start) {
    issues.push({ path: '$.workingHours.end', message: 'after start, on the same day' });
  }
  if (new Set(s.workingHours.days).size !== s.workingHours.days.length) {
    issues.push({ path: '$.workingHours.days', message: 'each day once' });
  }
  return issues;
}

// ---------------------------------------------------------------------------------------------------------------
// Time in the clinic's zone

const DAY_MS = 86_400_000;
const WEEKDAYS: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

type LocalTime = { date: string; time: string; weekday: number };
/** Wall times by zone and UTC minute: a month of accesses falls in a few ten thousand minutes. */
const wallTimes = new Map<string, LocalTime>();

/** An instant's wall time in a zone: its date, `HH:MM` and ISO weekday (1 Monday). */
export function localTime(at: string, timeZone: string): LocalTime {
  // Zone offsets are whole minutes: every instant of a UTC minute has the same local minute.
  const key = `${timeZone}|${new Date(at).toISOString().slice(0, 16)}`;
  let t = wallTimes.get(key);
  if (!t) {
    const p = zoneParts(Date.parse(at), timeZone);
    t = { date: `${p.year}-${p.month}-${p.day}`, time: `${p.hour}:${p.minute}`, weekday: WEEKDAYS[p.weekday!]! };
    if (wallTimes.size > 200_000) wallTimes.clear();
    wallTimes.set(key, t);
  }
  return t;
}

const addDays = (date: string, n: number) =>
  new Date(Date.parse(`${date}T00:00:00Z`) + n * DAY_MS).toISOString().slice(0, 10);

/** The instants of a range of local dates, inclusive: [start of `from`, start of the day after `to`). */
export function windowOf(from: string, to: string, timeZone: string): { start: string; end: string } {
  return { start: startOfLocalDay(from, timeZone), end: startOfLocalDay(addDays(to, 1), timeZone) };
}

/** Whether an instant falls in the clinic's working hours, in its time zone. */
export function inWorkingHours(at: string, timeZone: string, hours: AccessSettings['workingHours']): boolean {
  const t = localTime(at, timeZone);
  return hours.days.includes(t.weekday) && t.time >= hours.start && t.time < hours.end;
}

/**
 * The stretches of [from, to] (local dates) outside working hours, as UTC instants: what the store reads for the
 * after-hours flag (the flag itself checks each access's local time again).
 */
export function afterHoursIntervals(
  from: string,
  to: string,
  timeZone: string,
  hours: AccessSettings['workingHours'],
): { start: string; end: string }[] {
  const out: { start: string; end: string }[] = [];
  const push = (start: string, end: string) => {
    const last = out.at(-1);
    if (last && last.end === start) last.end = end;
    else if (start < end) out.push({ start, end });
  };
  for (let d = from; d <= to; d = addDays(d, 1)) {
    const dayStart = startOfLocalDay(d, timeZone);
    const dayEnd = startOfLocalDay(addDays(d, 1), timeZone);
    const weekday = localTime(dayStart, timeZone).weekday;
    if (!hours.days.includes(weekday)) {
      push(dayStart, dayEnd);
      continue;
    }
    push(dayStart, instantOfLocal(d, hours.start, timeZone));
    push(instantOfLocal(d, hours.end, timeZone), dayEnd);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// What a role works

/**
 * The queues a role works: where the lifecycle lets it decide (rules/lifecycle QUEUE_ROLES), and the signature queue
 * for the roles a clinic's signing policy may delegate to (whether or not this clinic does: a signal should not fire
 * on a policy change). Admins and privacy officers work none. Kinds' own actions are not consulted: their tables
 * list roles and queues as a cross product (a care-gap nurse may snooze a case in the doctor queue), so a nurse
 * viewing a doctor-queue care gap is flagged, and a person judges it.
 */
export function queuesWorkedBy(role: string | null): Queue[] {
  const r = role as Role;
  return QUEUES.filter(
    (q) => (QUEUE_ROLES[q] as readonly string[]).includes(r) || (q === 'signature' && SIGNING_DELEGATES.includes(r)),
  );
}

const noun = (role: string | null) => (role ? ((ROLE_NOUNS as Record<string, string>)[role] ?? role) : 'user');
const article = (word: string) => (/^[aeiou]/i.test(word) ? `an ${word}` : `a ${word}`);

// ---------------------------------------------------------------------------------------------------------------
// The flags

/** A person's view of a case (`case.viewed`), with the queue the case was in then (null: none, or not recorded). */
export interface CaseView {
  auditId: number;
  at: string;
  userId: string;
  role: string | null;
  caseId: string;
  patientId: string | null;
  queue: string | null;
}

/** A person's access of any kind (ACCESS_ACTIONS), for the after-hours flag. */
export interface PersonAccess {
  auditId: number;
  at: string;
  userId: string;
  role: string | null;
  action: string;
  subjects: AccessSubject[];
}

/** Distinct cases a person viewed in one UTC hour (`YYYY-MM-DDTHH`). */
export interface HourCount {
  userId: string;
  hour: string;
  cases: number;
}

/** One access a flag points at. */
export interface FlagAccess {
  auditId: number;
  at: string;
  action: string;
  caseId: string | null;
  patientId: string | null;
  queue?: string | null;
}

export interface FlagEvidence {
  /** The accesses behind the flag, oldest first (at most {@link MAX_EVIDENCE}; `total` counts them all). */
  accesses: FlagAccess[];
  total: number;
  /** outside_queues: the queues the person's role works. */
  queuesWorked?: string[];
  /** rate: distinct cases in the hour, the person's median per active hour before it, over how many hours, the bar. */
  casesInHour?: number;
  median?: number | null;
  baselineHours?: number;
  threshold?: number;
  /** after_hours: the working hours it was judged against. */
  workingHours?: AccessSettings['workingHours'];
  /** many_viewers: each person who viewed the case, with their first view. */
  viewers?: { userId: string; role: string | null; firstAt: string; auditId: number }[];
}

export interface AccessFlag {
  /** `<kind>:<bucket>:<subject>`: stable, so a review stays attached (bucket: a local date, or a UTC hour for rate). */
  id: string;
  kind: FlagKind;
  /** When it happened: the first access behind it, the hour's start (rate), the view that crossed the bar. */
  at: string;
  /** The clinic-local date of `at`. */
  day: string;
  userId: string | null;
  role: string | null;
  caseId: string | null;
  patientId: string | null;
  /** One sentence: why this is worth a look (ids and numbers only). */
  reason: string;
  evidence: FlagEvidence;
}

export const MAX_EVIDENCE = 100;

export interface FlagInput {
  timeZone: string;
  /** Local dates, inclusive: flags whose `at` falls in them. */
  from: string;
  to: string;
  settings: AccessSettings;
  /** `case.viewed` rows of the window. */
  views: readonly CaseView[];
  /** `<caseId>\n<userId>`: the person recorded a decision on the case (their own work, whichever queue it is in now). */
  decided: ReadonlySet<string>;
  /** Distinct cases per person per UTC hour, from `rateBaselineDays` before the window to its end. */
  hourly: readonly HourCount[];
  /** People's accesses in the window outside working hours (a superset is fine: each is checked again). */
  afterHours: readonly PersonAccess[];
  /** Every `case.viewed` row, at any time, of the cases viewed in the window. */
  caseViews: readonly CaseView[];
}

const cap = <T>(xs: readonly T[]): T[] => xs.slice(0, MAX_EVIDENCE);
const byTime = <T extends { at: string; auditId: number }>(a: T, b: T) =>
  a.at < b.at ? -1 : a.at > b.at ? 1 : a.auditId - b.auditId;
const viewAccess = (v: CaseView): FlagAccess => ({
  auditId: v.auditId,
  at: v.at,
  action: 'case.viewed',
  caseId: v.caseId,
  patientId: v.patientId,
  queue: v.queue,
});

/** Every flag of the window, in time order. */
export function accessFlags(input: FlagInput): AccessFlag[] {
  const { start, end } = windowOf(input.from, input.to, input.timeZone);
  const inWindow = (at: string) => at >= start && at < end;
  const flags = [
    ...outsideQueues(input, inWindow),
    ...rate(input, start, end),
    ...afterHours(input, inWindow),
    ...manyViewers(input, inWindow),
  ];
  return flags.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.id < b.id ? -1 : 1));
}

/** A person viewing cases in queues their role does not work, and that they did not decide themselves. */
function outsideQueues(input: FlagInput, inWindow: (at: string) => boolean): AccessFlag[] {
  const groups = new Map<string, CaseView[]>();
  for (const v of input.views) {
    if (!inWindow(v.at) || v.queue === null) continue;
    if (queuesWorkedBy(v.role).includes(v.queue as Queue)) continue;
    if (input.decided.has(`${v.caseId}\n${v.userId}`)) continue;
    const key = `${localTime(v.at, input.timeZone).date}:${v.userId}`;
    const group = groups.get(key);
    if (group) group.push(v);
    else groups.set(key, [v]);
  }
  return [...groups].map(([key, views]) => {
    views.sort(byTime);
    const first = views[0]!;
    const cases = new Set(views.map((v) => v.caseId));
    const queues = [...new Set(views.map((v) => v.queue!))].sort();
    const worked = queuesWorkedBy(first.role);
    const n = cases.size;
    return {
      id: `outside_queues:${key}`,
      kind: 'outside_queues',
      at: first.at,
      day: key.slice(0, 10),
      userId: first.userId,
      role: first.role,
      caseId: n === 1 ? first.caseId : null,
      patientId: n === 1 ? first.patientId : null,
      reason:
        `Viewed ${n} case${n === 1 ? '' : 's'} in the ${queues.join(', ')} queue${queues.length === 1 ? '' : 's'}, ` +
        (worked.length
          ? `outside the queues ${article(noun(first.role))} works (${worked.join(', ')})`
          : `though ${article(noun(first.role))} works no queue`),
      evidence: { accesses: cap(views.map(viewAccess)), total: views.length, queuesWorked: worked },
    } satisfies AccessFlag;
  });
}

const median = (xs: number[]): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/**
 * A person viewing more distinct cases in one hour than `rateMultiplier` × their own median per active hour (an hour
 * in which they viewed any) over the `rateBaselineDays` before it, and more than `rateFloorPerHour` in any case: a
 * quiet person's busy hour is not flagged below the floor, and a person without history is judged by the floor alone.
 */
function rate(input: FlagInput, start: string, end: string): AccessFlag[] {
  const s = input.settings;
  const perUser = new Map<string, HourCount[]>();
  for (const h of input.hourly) {
    const list = perUser.get(h.userId);
    if (list) list.push(h);
    else perUser.set(h.userId, [h]);
  }
  // The views of each person and UTC hour, for the evidence of a flagged hour.
  const viewsOf = new Map<string, CaseView[]>();
  for (const v of input.views) {
    const key = `${v.userId}\n${v.at.slice(0, 13)}`;
    const list = viewsOf.get(key);
    if (list) list.push(v);
    else viewsOf.set(key, [v]);
  }
  const out: AccessFlag[] = [];
  for (const [userId, hours] of perUser) {
    hours.sort((a, b) => (a.hour < b.hour ? -1 : 1));
    for (const h of hours) {
      const hourStart = `${h.hour}:00:00.000Z`;
      if (hourStart < start || hourStart >= end || h.cases <= s.rateFloorPerHour) continue;
      const since = new Date(Date.parse(hourStart) - s.rateBaselineDays * DAY_MS).toISOString().slice(0, 13);
      const baseline = hours.filter((b) => b.hour >= since && b.hour < h.hour && b.cases > 0).map((b) => b.cases);
      const m = median(baseline);
      const threshold = Math.max(s.rateFloorPerHour, m === null ? 0 : s.rateMultiplier * m);
      if (h.cases <= threshold) continue;
      const views = [...(viewsOf.get(`${userId}\n${h.hour}`) ?? [])].sort(byTime);
      const role = views[0]?.role ?? null;
      out.push({
        id: `rate:${h.hour}:${userId}`,
        kind: 'rate',
        at: hourStart,
        day: localTime(hourStart, input.timeZone).date,
        userId,
        role,
        caseId: null,
        patientId: null,
        reason:
          `Viewed ${h.cases} cases in one hour: ` +
          (m === null
            ? `no views in the ${s.rateBaselineDays} days before, so judged by the floor of ${s.rateFloorPerHour}`
            : `more than ${s.rateMultiplier} × their own median of ${m} per active hour over the ` +
              `${s.rateBaselineDays} days before (and the floor of ${s.rateFloorPerHour})`),
        evidence: {
          accesses: cap(views.map(viewAccess)),
          total: views.length,
          casesInHour: h.cases,
          median: m,
          baselineHours: baseline.length,
          threshold,
        },
      });
    }
  }
  return out;
}

/**
 * A person's accesses to patient data outside the clinic's working hours, in its time zone (an access that showed no
 * case or patient, such as an empty queue page, does not count): one flag per person and local day.
 */
function afterHours(input: FlagInput, inWindow: (at: string) => boolean): AccessFlag[] {
  const hours = input.settings.workingHours;
  const groups = new Map<string, PersonAccess[]>();
  for (const a of input.afterHours) {
    // An empty queue page or a search that found nothing showed no patient's data.
    if (!inWindow(a.at) || a.subjects.length === 0 || inWorkingHours(a.at, input.timeZone, hours)) continue;
    const key = `${localTime(a.at, input.timeZone).date}:${a.userId}`;
    const group = groups.get(key);
    if (group) group.push(a);
    else groups.set(key, [a]);
  }
  return [...groups].map(([key, accesses]) => {
    accesses.sort(byTime);
    const first = accesses[0]!;
    const subjects = accesses.flatMap((a) => a.subjects);
    const cases = new Set(subjects.map((x) => x.caseId).filter((c) => c !== null));
    const firstLocal = localTime(first.at, input.timeZone).time;
    const lastLocal = localTime(accesses.at(-1)!.at, input.timeZone).time;
    const days = hours.days.length ? `${hours.days.map((d) => DAY_NAMES[d - 1]).join(' ')}` : 'no day';
    return {
      id: `after_hours:${key}`,
      kind: 'after_hours',
      at: first.at,
      day: key.slice(0, 10),
      userId: first.userId,
      role: first.role,
      caseId: cases.size === 1 ? [...cases][0]! : null,
      patientId: null,
      reason:
        `${accesses.length} access${accesses.length === 1 ? '' : 'es'} to patient data ` +
        `${firstLocal === lastLocal ? `at ${firstLocal}` : `between ${firstLocal} and ${lastLocal}`} ` +
        `(${input.timeZone}), outside working hours (${days} ${hours.start}–${hours.end}), ` +
        `touching ${cases.size} case${cases.size === 1 ? '' : 's'}`,
      evidence: {
        accesses: cap(
          accesses.map((a) => ({
            auditId: a.auditId,
            at: a.at,
            action: a.action,
            caseId: a.subjects.length === 1 ? a.subjects[0]!.caseId : null,
            patientId: a.subjects.length === 1 ? a.subjects[0]!.patientId : null,
          })),
        ),
        total: accesses.length,
        workingHours: hours,
      },
    } satisfies AccessFlag;
  });
}

const DAY_NAMES = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

/**
 * A case viewed by `viewersPerCase` different people: the flag stands at the view by which the last of them arrived
 * (so it is raised once per case, when it happens), with every viewer as evidence.
 */
function manyViewers(input: FlagInput, inWindow: (at: string) => boolean): AccessFlag[] {
  const perCase = new Map<string, CaseView[]>();
  for (const v of input.caseViews) {
    const list = perCase.get(v.caseId);
    if (list) list.push(v);
    else perCase.set(v.caseId, [v]);
  }
  const out: AccessFlag[] = [];
  const bar = input.settings.viewersPerCase;
  for (const [caseId, views] of perCase) {
    views.sort(byTime);
    const first = new Map<string, CaseView>();
    let crossing: CaseView | undefined;
    for (const v of views) {
      if (!first.has(v.userId)) first.set(v.userId, v);
      if (!crossing && first.size >= bar) crossing = v;
    }
    if (!crossing || !inWindow(crossing.at)) continue;
    const viewers = [...first.values()];
    const patientId = views.find((v) => v.patientId !== null)?.patientId ?? null;
    out.push({
      id: `many_viewers:${localTime(crossing.at, input.timeZone).date}:${caseId}`,
      kind: 'many_viewers',
      at: crossing.at,
      day: localTime(crossing.at, input.timeZone).date,
      userId: null,
      role: null,
      caseId,
      patientId,
      reason:
        `${viewers.length} different people viewed this case (the bar is ${bar}); ` +
        `roles: ${[...new Set(viewers.map((v) => noun(v.role)))].join(', ')}`,
      evidence: {
        accesses: cap(views.map(viewAccess)),
        total: views.length,
        viewers: viewers.map((v) => ({ userId: v.userId, role: v.role, firstAt: v.at, auditId: v.auditId })),
      },
    });
  }
  return out;
}

/**
 * The kind and the local dates a flag id can stand on (what a review needs to find the flag again), or null for no
 * flag id. A rate flag names a UTC hour, which may fall on the local day before or after its UTC date.
 */
export function parseFlagId(id: string): { kind: FlagKind; from: string; to: string } | null {
  const m = /^(outside_queues|rate|after_hours|many_viewers):(\d{4}-\d{2}-\d{2})(T\d{2})?:.+$/.exec(id);
  if (!m) return null;
  const kind = m[1] as FlagKind;
  const day = m[2]!;
  if ((kind === 'rate') !== (m[3] !== undefined) || Number.isNaN(Date.parse(`${day}T00:00:00Z`))) return null;
  return kind === 'rate' ? { kind, from: addDays(day, -1), to: addDays(day, 1) } : { kind, from: day, to: day };
}
