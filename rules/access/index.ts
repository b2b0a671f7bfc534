// Access monitoring (issue 10 §3): which audit rows are accesses to patient data, which cases and patients each one
// touched, and (./flags.ts) the heuristics that flag access a person should look at. Pure: the store reads the audit
// rows (connectors/db/access.ts), this module says what they mean, so every rule is unit-tested without a database.

/**
 * What kind of access an audit action is: a person viewing a case (`view`), listing a queue (`list`), deciding
 * (`decision`), exporting case ids (`export`), reading the access log itself (`monitoring`); the worker reading the
 * EHR (`ehr_read`) or writing an outcome back (`ehr_write`).
 */
export const ACCESS_CATEGORIES = ['view', 'list', 'decision', 'export', 'monitoring', 'ehr_read', 'ehr_write'] as const;
export type AccessCategory = (typeof ACCESS_CATEGORIES)[number];

/**
 * The audit actions that are accesses to patient data, with their category. Every writer of these rows names the case
 * (the `case_id` column, or `caseIds` in the detail) and, where it knows it, the patient (`patientId`, `patientIds`);
 * the store fills in a case's patient from the case itself.
 */
export const ACCESS_ACTIONS = {
  'case.viewed': 'view',
  'case.audit_viewed': 'view',
  'queue.listed': 'list',
  'patient.cases_listed': 'list',
  'decision.recorded': 'decision',
  'case.batch_sign': 'decision',
  'analytics.viewed': 'export',
  'access_log.viewed': 'monitoring',
  'access_log.exported': 'monitoring',
  'access_flags.viewed': 'monitoring',
  'patient_context.read': 'ehr_read',
  'ehr.event_focus_read': 'ehr_read',
  'ehr.panel_page_read': 'ehr_read',
  'ehr.write_back': 'ehr_write',
} as const satisfies Record<string, AccessCategory>;
export type AccessAction = keyof typeof ACCESS_ACTIONS;
export const ACCESS_ACTION_NAMES = Object.keys(ACCESS_ACTIONS) as AccessAction[];

export const isAccessAction = (action: string): action is AccessAction => Object.hasOwn(ACCESS_ACTIONS, action);

/** One case or patient an access touched; either may be unknown (a page of the panel sweep names neither). */
export interface AccessSubject {
  caseId: string | null;
  patientId: string | null;
}

const strings = (v: unknown): string[] | null => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : null);

/**
 * The cases and patients an audit row touched, from its `case_id` and its detail: `caseIds` with the parallel
 * `patientIds` (a queue page, an access-log page; `''` for a case without a patient), `signedCaseIds` and
 * `refusedCaseIds` (`<case>:<reason>`) of a batch signature, `patientId` beside the row's case. Each case once.
 */
export function accessSubjects(row: { caseId: string | null; detail: Record<string, unknown> }): AccessSubject[] {
  const out = new Map<string, AccessSubject>();
  const add = (caseId: string | null, patientId: string | null) => {
    const key = caseId ?? `patient:${patientId ?? ''}`;
    const seen = out.get(key);
    if (!seen) out.set(key, { caseId, patientId });
    else if (seen.patientId === null && patientId !== null) seen.patientId = patientId;
  };
  const d = row.detail;
  const patientIds = strings(d.patientIds) ?? [];
  (strings(d.caseIds) ?? []).forEach((c, i) => add(c || null, patientIds[i] || null));
  for (const c of strings(d.signedCaseIds) ?? []) add(c, null);
  for (const c of strings(d.refusedCaseIds) ?? []) add(c.replace(/:[^:]*$/, ''), null);
  const patientId = typeof d.patientId === 'string' && d.patientId !== '' ? d.patientId : null;
  if (row.caseId !== null) add(row.caseId, patientId);
  else if (patientId !== null && out.size === 0) add(null, patientId);
  return [...out.values()];
}

/** Whether an access touched the case and the patient asked for (each filter optional). */
export function touches(subjects: readonly AccessSubject[], filter: { caseId?: string; patientId?: string }): boolean {
  if (filter.caseId !== undefined && !subjects.some((s) => s.caseId === filter.caseId)) return false;
  if (filter.patientId !== undefined && !subjects.some((s) => s.patientId === filter.patientId)) return false;
  return true;
}

/** One access as the access log shows it. */
export interface AccessEntry {
  /** The audit row's id. */
  id: number;
  at: string;
  action: AccessAction;
  category: AccessCategory;
  actorType: string;
  /** The person (or `worker` for the worker's EHR reads and write-backs). */
  userId: string;
  role: string | null;
  clinicId: string | null;
  /** The API request (or, for a case's steps, the request that started the case) the row was written in. */
  requestId: string | null;
  /** The caller's own request id (`X-Request-Id`), when it sent one. */
  callerRequestId: string | null;
  subjects: AccessSubject[];
}

const cell = (v: string | number | null): string => {
  if (v === null) return '';
  const s = String(v);
  // A spreadsheet runs a cell starting with = + - @ as a formula; ids and codes never do, so guard anyway.
  const safe = typeof v === 'string' && /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
};

/** The access log as CSV (RFC 4180, CRLF): one line per case or patient each access touched (one for none). */
export function accessLogCsv(entries: readonly AccessEntry[]): string {
  const header = [
    'at',
    'user_id',
    'role',
    'actor_type',
    'action',
    'category',
    'clinic_id',
    'case_id',
    'patient_id',
    'request_id',
    'caller_request_id',
    'audit_id',
  ];
  const lines = entries.flatMap((e) =>
    (e.subjects.length ? e.subjects : [{ caseId: null, patientId: null }]).map((s) =>
      [
        e.at,
        e.userId,
        e.role,
        e.actorType,
        e.action,
        e.category,
        e.clinicId,
        s.caseId,
        s.patientId,
        e.requestId,
        e.callerRequestId,
        e.id,
      ]
        .map(cell)
        .join(','),
    ),
  );
  return [header.join(','), ...lines].map((l) => `${l}\r\n`).join('');
}
