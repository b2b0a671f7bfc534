// @ts-check
// The console: a dependency-free ES module over the public API (/v1/me, /v1/lifecycle, /v1/kinds, /v1/queues,
// /v1/cases). Every value from the server is put into the page as text (never as HTML). URLs carry case ids only.
// What differs by protocol kind (a refill, a care gap) is rendered by the kind's module in ./kinds/ (rendererFor).
import { batchSigning } from './batch-sign.js';
import { RENDERERS, rendererFor } from './kinds/index.js';
import { showAnalytics } from './analytics.js';
import { showProtocols } from './protocols.js';
import { showClinics } from './clinics.js';
import { showAccess } from './access.js';

const TOKEN_KEY = 'ehr-autopilot.token';
/** The patient in context of a SMART launch (their FHIR id at the clinic's EHR), kept for this tab only. */
const PATIENT_KEY = 'ehr-autopilot.patient';
/** Set when this tab's token is a SMART session (revoked on sign-out). */
const SMART_KEY = 'ehr-autopilot.smart';
const PAGE_SIZE = 25;
const POLL_MS = 5000;

/** @typedef {string} Queue */
/** @typedef {'admin' | 'doctor' | 'nurse' | 'pharmacist' | 'pa' | 'privacy'} Role */
/** @typedef {string} Action */
/** @typedef {{ userId: string, role: Role, clinicId: string | null }} Me */
/** @typedef {{ queues: { queue: Queue, roles: Role[], actions: Action[] }[], signingDelegates?: Role[] }} Lifecycle */

/** The queues, in tab order: the lifecycle's (GET /v1/lifecycle) once signed in. @type {Queue[]} */
let QUEUES = ['signature', 'nurse', 'doctor'];

/** @type {Record<Queue, string>} */
const QUEUE_TITLE = {
  signature: 'Signature',
  nurse: 'Nurse',
  doctor: 'Doctor',
  outreach: 'Outreach',
  cosign: 'Co-sign',
};

/**
 * A queue's title, and what it holds: each kind's own sentence about the queue (its renderer's `queueText`), in the
 * registry's order.
 * @param {Queue} q
 */
const queueText = (q) => ({
  title: QUEUE_TITLE[q] ?? q,
  sub: RENDERERS.map((r) => r.queueText?.[q])
    .filter(Boolean)
    .join(' '),
});

/** @type {Record<string, string>} */
const REASON_TEXT = {
  protocol: 'Protocol',
  automation_disabled: 'Automation disabled',
  ehr_record_not_found: 'EHR record not found',
  ehr_unavailable: 'EHR unavailable',
  protocol_unavailable: 'No runnable protocol',
  escalated_sla: 'Escalated: SLA passed',
  escalated_by_nurse: 'Escalated by a nurse',
  pended_for_signature: 'Pended for signature',
  standing_order: 'Standing order: awaiting co-sign',
  escalated_cosign_overdue: 'Co-sign overdue',
};

/** @type {Record<string, string>} */
const POOL_TEXT = {
  protime_nurse_pool: 'Protime nurse pool',
  endocrinology: 'Endocrinology',
  pcp_or_coverage: 'PCP or coverage',
  screening_outreach: 'Screening outreach',
  gi_followup: 'GI follow-up',
};

/** @type {Record<string, string>} */
const OUTCOME_TEXT = { approved: 'approved', denied: 'denied', needs_visit: 'needs a visit' };

/** @type {Record<string, string>} */
const EVENT_TEXT = {
  'case.received': 'Case received from the EHR',
  'case.triaging': 'Triage started',
  'case.queued': 'Placed in a queue',
  'decision.received': 'Clinician decision',
  'case.closed': 'Case closed',
  'ehr.written': 'Written back to the EHR',
};

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  /** The patient in context (SMART App Launch), or null. */
  patientId: sessionStorage.getItem(PATIENT_KEY),
  /** @type {Me | null} */
  me: null,
  /** Who may take which action in each queue: GET /v1/lifecycle (rules/lifecycle/), fetched at sign-in. */
  /** @type {Lifecycle | null} */
  lifecycle: null,
  /** The protocol kinds with their actions: GET /v1/kinds (rules/kinds/), fetched at sign-in. */
  /** @type {import('./kinds/index.js').ActionContext['kinds']} */
  kinds: null,
  /** @type {Queue} */
  queue: 'nurse',
  /** Cursors of the pages visited so far in this queue: cursors[i] opens page i (null = first page). */
  /** @type {(string | null)[]} */
  cursors: [null],
  page: 0,
  /** @type {string | null} */
  nextCursor: null,
  lastQueueJson: '',
  /** @type {Record<string, number>} */
  counts: {},
  /** @type {any} */
  current: null,
  /** A decision the server did not confirm (503 / network): retried with the same decisionId. */
  /** @type {{ caseId: string, action: Action, decisionId: string } | null} */
  unconfirmed: null,
  /** Decisions accepted in this tab, per case: no second set of buttons while the workflow finishes the first. */
  /** @type {Map<string, { action: Action, queue: string }>} */
  decided: new Map(),
  /** @type {{ caseId: string, action: Action, decisionId: string } | null} */
  pending: null,
  /** @type {number | undefined} */
  timer: undefined,
  polling: false,
};

// ---------------------------------------------------------------------------------------------------------------
// Small helpers

/** @param {string} id */
function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
}

/**
 * Builds an element. Children are nodes or strings (always inserted as text).
 * @param {string} tag
 * @param {Record<string, any> | null} [attrs]
 * @param {...any} children
 * @returns {HTMLElement}
 */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** A UUID for a decision; crypto.randomUUID needs a secure context, getRandomValues does not. */
function newDecisionId() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x40;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const x = [...b].map((n) => n.toString(16).padStart(2, '0')).join('');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeZone: 'UTC' });

/** @param {string | null | undefined} iso */
function fmtDateTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : dateTime.format(d);
}

/** A calendar date (YYYY-MM-DD) is shown as that date, whatever the viewer's time zone. @param {string | undefined} s */
function fmtDate(s) {
  if (!s) return '—';
  if (/^\d{4}-\d{2}-\d{2}$/.test(s)) return dateOnly.format(new Date(`${s}T00:00:00Z`));
  return fmtDateTime(s);
}

/** "3 h", "25 min", "2 d" @param {number} ms */
function span(ms) {
  const min = Math.round(Math.abs(ms) / 60000);
  if (min < 60) return `${min} min`;
  const hr = Math.round(min / 60);
  if (hr < 48) return `${hr} h`;
  return `${Math.round(hr / 24)} d`;
}

/** @param {string} iso */
function ago(iso) {
  const ms = Date.now() - new Date(iso).getTime();
  return Number.isNaN(ms) ? iso : ms < 60000 ? 'just now' : `${span(ms)} ago`;
}

/** @param {string | null | undefined} slaDueAt */
function slaCell(slaDueAt) {
  if (!slaDueAt) return h('span', { class: 'muted' }, '—');
  const due = new Date(slaDueAt).getTime();
  const left = due - Date.now();
  if (left < 0) {
    return h('span', { class: 'badge badge-overdue', title: `Due ${fmtDateTime(slaDueAt)}` }, `Overdue ${span(left)}`);
  }
  return h(
    'span',
    { class: left < 3600000 ? 'badge badge-soon' : 'sla', title: `Due ${fmtDateTime(slaDueAt)}` },
    `in ${span(left)}`,
  );
}

/** @param {string | null | undefined} d @param {string | undefined} [kind] */
function dispositionBadge(d, kind) {
  if (!d) return h('span', { class: 'badge badge-none' }, 'Not triaged');
  return h('span', { class: `badge badge-${d}` }, rendererFor(kind).dispositionText[d] ?? d);
}

// ---------------------------------------------------------------------------------------------------------------
// Patient identity: read live from the EHR for each response (api/patient-identity.ts), shown, never kept.

/** @type {Record<string, string>} */
const SEX_TEXT = { male: 'Male', female: 'Female', other: 'Other', unknown: 'Unknown' };

/** @type {Record<string, string>} */
const IDENTITY_UNAVAILABLE_TEXT = {
  ehr_unavailable: 'the EHR did not answer',
  timeout: 'the EHR was too slow',
  busy: 'the EHR is busy',
  not_found: 'the EHR has no such patient',
};

/** "12 Mar 1961 (64 y) · Female · MRN 0042", the parts the EHR gave. @param {any} p */
function identityFacts(p) {
  return [
    p.birthDate ? `${fmtDate(p.birthDate)}${typeof p.age === 'number' ? ` (${p.age} y)` : ''}` : null,
    p.sex ? (SEX_TEXT[p.sex] ?? p.sex) : null,
    p.mrn ? `MRN ${p.mrn}` : null,
  ].filter(Boolean);
}

/** Why a case shows no identity, in words. @param {any} p */
function identityUnavailable(p) {
  return `Identity unavailable: ${IDENTITY_UNAVAILABLE_TEXT[p.reason] ?? p.reason}`;
}

/** A queue row's patient cell: name, then date of birth (age), sex and MRN. @param {any} c */
function patientCell(c) {
  const p = c.patient;
  if (!p) return h('span', { class: 'muted' }, c.patientId ? `Patient/${c.patientId}` : '—');
  if (p.unavailable) {
    return [
      h('span', { class: 'identity-unavailable' }, identityUnavailable(p)),
      c.patientId ? h('div', { class: 'sub muted' }, `Patient/${c.patientId}`) : null,
    ];
  }
  return [
    h('span', { class: 'patient-name' }, p.name ?? 'Name not recorded'),
    h('div', { class: 'sub muted' }, identityFacts(p).join(' · ')),
  ];
}

/** The case header's patient banner. @param {any} c */
function patientBanner(c) {
  const p = c.patient;
  if (!p) return null;
  if (p.unavailable) {
    return h('p', { class: 'patient-banner identity-unavailable', 'data-testid': 'patient' }, identityUnavailable(p));
  }
  return h(
    'p',
    { class: 'patient-banner', 'data-testid': 'patient' },
    h('strong', { class: 'patient-name' }, p.name ?? 'Name not recorded'),
    ...identityFacts(p).map((f) => h('span', { class: 'patient-fact' }, f)),
  );
}

/** What the kinds' renderers may use. @type {import('./kinds/index.js').KindUi} */
const ui = { h, fmtDate, fmtDateTime, poolText: (p) => POOL_TEXT[p] ?? p };

/** @param {string} text @param {'info' | 'ok' | 'error'} [kind] */
function setStatus(text, kind = 'info') {
  const el = $('status');
  el.textContent = text;
  el.className = `status status-${kind}`;
}

// ---------------------------------------------------------------------------------------------------------------
// API

class ApiError extends Error {
  /**
   * @param {number} status @param {string} code @param {string} message @param {string | undefined} requestId
   * @param {{ path: string, message: string }[]} [issues] the JSON path of every problem (400, 422)
   */
  constructor(status, code, message, requestId, issues = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
    this.issues = issues;
  }
}

/**
 * Calls the API with the session's bearer token. Throws ApiError (status 0 = the server could not be reached).
 * @param {string} path
 * @param {{ method?: string, body?: unknown, token?: string }} [opts]
 */
async function api(path, opts = {}) {
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json', authorization: `Bearer ${opts.token ?? state.token ?? ''}` };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method: opts.method ?? 'GET',
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch {
    throw new ApiError(0, 'NETWORK', 'The server could not be reached.', undefined);
  }
  /** @type {any} */
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (!res.ok) {
    const e = body?.error ?? {};
    throw new ApiError(res.status, e.code ?? `HTTP_${res.status}`, e.message ?? res.statusText, e.requestId, e.issues);
  }
  return body;
}

/** Batch signing of the signature queue (its own module): checkboxes, confirm, results, undo. */
const batch = batchSigning({
  api,
  h,
  me: () => state.me,
  lifecycle: () => state.lifecycle,
  errorText,
  newId: newDecisionId,
  reload: () => {
    state.lastQueueJson = '';
    void loadQueue().catch((err) => setStatus(errorText(err), 'error'));
  },
});

/** A rejected token ends the session wherever it happens. @param {unknown} err */
function handleAuthError(err) {
  if (err instanceof ApiError && err.status === 401) {
    signOut('Your token was not accepted (expired or revoked). Sign in again.');
    return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------------------------
// Sign in / out

/** @param {string} [message] */
function showSignIn(message) {
  stopPolling();
  state.me = null;
  $('workspace').hidden = true;
  $('who').hidden = true;
  $('signin').hidden = false;
  $('signin-error').textContent = message ?? '';
  /** @type {HTMLInputElement} */ ($('token')).focus();
}

/** @param {string} [message] */
function signOut(message) {
  // A session from a SMART sign-in is revoked on the server too (a pasted token belongs to its owner: it is kept).
  if (state.token && sessionStorage.getItem(SMART_KEY) === '1') {
    void fetch('/smart/sign-out', {
      method: 'POST',
      headers: { authorization: `Bearer ${state.token}` },
      cache: 'no-store',
      credentials: 'omit',
    }).catch(() => undefined);
  }
  sessionStorage.removeItem(SMART_KEY);
  state.token = null;
  state.patientId = null;
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(PATIENT_KEY);
  $('nav-patient').hidden = true;
  history.replaceState(null, '', '#/');
  showSignIn(message);
}

/** @param {string} token */
async function signIn(token) {
  // A privacy officer reads access monitoring only (the lifecycle and kinds routes refuse it): no queues to show.
  const watcher = (/** @type {Me} */ m) => m.role === 'privacy';
  const [me, lifecycle, kinds] = await Promise.all([
    /** @type {Promise<Me>} */ (api('/v1/me', { token })),
    /** @type {Promise<Lifecycle>} */ (api('/v1/lifecycle', { token }).catch(forbiddenAs({ queues: [] }))),
    api('/v1/kinds', { token }).catch(forbiddenAs({ items: [] })),
  ]);
  state.token = token;
  state.me = me;
  state.lifecycle = lifecycle;
  state.kinds = kinds.items;
  QUEUES = lifecycle.queues.map((q) => q.queue);
  buildTabs();
  // Outcome analytics (./analytics.js) answer admins only (GET /v1/analytics); access monitoring admins and privacy.
  $('nav-analytics').hidden = me.role !== 'admin';
  $('nav-protocols').hidden = me.role !== 'admin'; // the protocol pages (./protocols.js)
  $('nav-clinics').hidden = me.role !== 'admin'; // clinic onboarding and settings (./clinics.js)
  $('nav-access').hidden = me.role !== 'admin' && !watcher(me);
  $('nav-patient').hidden = !state.patientId || watcher(me); // the patient of a SMART launch
  $('tabs').hidden = watcher(me);
  sessionStorage.setItem(TOKEN_KEY, token);
  $('signin').hidden = true;
  $('workspace').hidden = false;
  $('who').hidden = false;
  $('who-text').replaceChildren(
    h('span', { class: 'who-user' }, me.userId),
    ' ',
    h('span', { class: `role role-${me.role}`, 'data-testid': 'role' }, me.role),
    me.clinicId ? h('span', { class: 'muted' }, ` · clinic ${me.clinicId}`) : '',
  );
  if (!location.hash || location.hash === '#/' || location.hash === '#' || watcher(me)) {
    history.replaceState(null, '', watcher(me) ? '#/access' : `#/queue/${defaultQueue(me.role)}`);
  }
  await route();
  if (!watcher(me)) startPolling();
}

/** A 403 answered as `fallback` (a route the role may not read); anything else is thrown on. @param {any} fallback */
function forbiddenAs(fallback) {
  return (/** @type {unknown} */ err) => {
    if (err instanceof ApiError && err.status === 403) return fallback;
    throw err;
  };
}

/** @param {Role} role @returns {Queue} */
function defaultQueue(role) {
  return role === 'doctor' || role === 'pa' ? 'doctor' : 'nurse';
}

// ---------------------------------------------------------------------------------------------------------------
// Tabs and queues

/** Creates the three tabs once; later renders only update them, so focus and screen-reader position survive polling. */
function buildTabs() {
  const tabs = QUEUES.map((q) =>
    h(
      'button',
      {
        type: 'button',
        role: 'tab',
        id: `tab-${q}`,
        class: 'tab',
        'aria-controls': 'queue-view',
        'data-queue': q,
        onclick: () => {
          location.hash = `#/queue/${q}`;
        },
        onkeydown: (/** @type {KeyboardEvent} */ e) => {
          const i = QUEUES.indexOf(q);
          const n = QUEUES.length;
          const keys = { ArrowRight: i + 1, ArrowLeft: i + n - 1, Home: 0, End: n - 1 };
          const to = keys[/** @type {keyof typeof keys} */ (e.key)];
          if (to === undefined) return;
          e.preventDefault();
          const next = QUEUES[to % n] ?? q;
          document.getElementById(`tab-${next}`)?.focus();
          location.hash = `#/queue/${next}`;
        },
      },
      queueText(q).title,
      ' ',
      h('span', { class: 'count' }, '…'),
    ),
  );
  $('tabs').replaceChildren(...tabs);
}

function renderTabs() {
  const onCase =
    !$('case-view').hidden ||
    !$('patient-view').hidden ||
    !$('analytics-view').hidden ||
    !$('protocols-view').hidden ||
    !$('clinics-view').hidden ||
    !$('access-view').hidden;
  for (const q of QUEUES) {
    const tab = $(`tab-${q}`);
    tab.setAttribute('aria-selected', q === state.queue && !onCase ? 'true' : 'false');
    tab.tabIndex = q === state.queue ? 0 : -1;
    const count = /** @type {HTMLElement} */ (tab.querySelector('.count'));
    const n = state.counts[q];
    const text = typeof n === 'number' ? String(n) : '…';
    if (count.textContent !== text) count.textContent = text;
    count.setAttribute('aria-label', typeof n === 'number' ? `${n} open` : 'loading');
  }
  $('queue-view').setAttribute('aria-labelledby', `tab-${state.queue}`);
}

/** @param {Queue} queue */
function openQueue(queue) {
  if (queue !== state.queue) {
    state.queue = queue;
    state.cursors = [null];
    state.page = 0;
  }
  state.lastQueueJson = '';
  $('case-view').hidden = true;
  $('case-view').replaceChildren();
  $('queue-view').hidden = false;
  $('queue-title').textContent = `${queueText(queue).title} queue`;
  $('queue-sub').textContent = queueText(queue).sub;
  document.title = `${queueText(queue).title} queue · Console`;
  renderTabs();
  return loadQueue();
}

/** Fetches the current page; re-renders only if something changed, so polling never steals focus. */
async function loadQueue() {
  const q = state.queue;
  const cursor = state.cursors[state.page];
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (cursor) params.set('cursor', cursor);
  const data = await api(`/v1/queues/${q}/cases?${params.toString()}`);
  if (q !== state.queue || $('queue-view').hidden) return;
  state.counts = data.counts ?? {};
  state.nextCursor = data.nextCursor;
  renderTabs();
  // The minute is part of the key: "overdue" and "2 h ago" must move on even when no case does.
  const json = `${Math.floor(Date.now() / 60000)}:${JSON.stringify(data.items)}`;
  if (json === state.lastQueueJson) {
    renderPager();
    return;
  }
  state.lastQueueJson = json;
  renderQueue(data.items);
  renderPager();
}

/** @param {any[]} items */
function renderQueue(items) {
  const rows = items.map((c) => {
    const href = `#/case/${encodeURIComponent(c.caseId)}`;
    const overdue = c.slaDueAt && new Date(c.slaDueAt).getTime() < Date.now();
    return h(
      'tr',
      {
        class: overdue ? 'row overdue' : 'row',
        'data-case-id': c.caseId,
        onclick: (/** @type {MouseEvent} */ e) => {
          if (!(e.target instanceof HTMLAnchorElement)) location.hash = href;
        },
      },
      h('td', { class: 'patient' }, patientCell(c)),
      h('td', null, rendererFor(c.kind).queueCell(c, ui)),
      h(
        'td',
        null,
        dispositionBadge(c.disposition, c.kind),
        c.escalated ? h('span', { class: 'badge badge-escalated' }, 'Escalated') : null,
      ),
      h('td', null, c.pool ? (POOL_TEXT[c.pool] ?? c.pool) : h('span', { class: 'muted' }, '—')),
      h('td', null, c.reason ? (REASON_TEXT[c.reason] ?? c.reason) : h('span', { class: 'muted' }, '—')),
      h('td', null, slaCell(c.slaDueAt)),
      h('td', { class: 'failed' }, rendererFor(c.kind).findingsCell(c, ui)),
      h('td', { title: fmtDateTime(c.createdAt) }, ago(c.createdAt)),
    );
  });
  const focused = document.activeElement?.closest('tr')?.getAttribute('data-case-id');
  $('queue-body').replaceChildren(...rows);
  if (focused) {
    /** @type {HTMLElement | null} */ (
      $('queue-body').querySelector(`tr[data-case-id="${CSS.escape(focused)}"] a`)
    )?.focus();
  }
  $('queue-empty').hidden = items.length > 0;
  $('queue-table').hidden = items.length === 0;
  batch.decorate(state.queue, items);
}

function renderPager() {
  const prev = /** @type {HTMLButtonElement} */ ($('page-prev'));
  const next = /** @type {HTMLButtonElement} */ ($('page-next'));
  prev.disabled = state.page === 0;
  next.disabled = !state.nextCursor;
  const total = state.counts[state.queue];
  $('page-label').textContent =
    `Page ${state.page + 1}` + (typeof total === 'number' ? ` of ${Math.max(1, Math.ceil(total / PAGE_SIZE))}` : '');
}

async function pageNext() {
  if (!state.nextCursor) return;
  state.cursors[state.page + 1] = state.nextCursor;
  state.page += 1;
  state.lastQueueJson = '';
  await loadQueue();
}

async function pagePrev() {
  if (state.page === 0) return;
  state.page -= 1;
  state.lastQueueJson = '';
  await loadQueue();
}

// ---------------------------------------------------------------------------------------------------------------
// Case view

/** @param {any} c */
function headline(c) {
  if (c.status === 'closed') {
    return {
      title: `Closed: ${OUTCOME_TEXT[c.outcome] ?? c.outcome ?? 'no outcome'}`,
      lede: 'This case is finished; the outcome has been written back to the EHR.',
    };
  }
  if (c.status === 'received' || c.status === 'triaging') {
    return { title: 'Being triaged', lede: 'The protocol is reading the EHR record. This usually takes seconds.' };
  }
  if (c.status === 'failed')
    return { title: 'Triage failed', lede: 'The case could not be triaged; see the timeline.' };
  const byKind = rendererFor(c.kind).headline(c, ui);
  if (byKind.title) return byKind;
  switch (c.reason) {
    case 'automation_disabled':
      return {
        title: 'Not triaged: automation is off',
        lede: 'Automation is disabled for this clinic; review by hand.',
      };
    case 'ehr_record_not_found':
      return {
        title: 'Not triaged: EHR record not found',
        lede: 'The record the case is about or the patient record could not be read.',
      };
    case 'ehr_unavailable':
      return {
        title: 'Not triaged: the EHR did not answer',
        lede: 'Review by hand, or wait for the EHR to come back.',
      };
    case 'protocol_unavailable':
      return {
        title: 'Not triaged: no runnable protocol',
        lede: 'The clinic’s protocol has no published version that validates; review by hand and tell an admin.',
      };
    default:
      return { title: 'Awaiting review', lede: '' };
  }
}

/** @param {string} caseId */
async function openCase(caseId) {
  $('queue-view').hidden = true;
  const view = $('case-view');
  view.hidden = false;
  renderTabs();
  view.replaceChildren(h('p', { class: 'muted' }, 'Loading case…'));
  try {
    const c = await api(`/v1/cases/${encodeURIComponent(caseId)}`);
    state.current = c;
    if (c.queue) state.queue = c.queue;
    renderTabs();
    renderCase(c);
    /** @type {HTMLElement | null} */ (view.querySelector('h1'))?.focus();
    if (state.me?.role === 'admin') void loadAudit(caseId);
  } catch (err) {
    if (handleAuthError(err)) return;
    const msg =
      err instanceof ApiError && err.status === 404 ? 'No such case, or it belongs to another clinic.' : errorText(err);
    view.replaceChildren(backLink(), h('p', { class: 'alert alert-error', role: 'alert' }, msg));
  }
}

function backLink() {
  return h('a', { href: `#/queue/${state.queue}`, class: 'back' }, `← ${queueText(state.queue).title} queue`);
}

/** @param {any} c */
function renderCase(c) {
  const { title, lede } = headline(c);
  const kind = rendererFor(c.kind);
  document.title = `${kind.pageTitle(c)} · Console`;
  const view = $('case-view');
  view.replaceChildren(
    backLink(),
    h(
      'header',
      { class: 'case-head' },
      h('p', { class: 'eyebrow' }, `Case ${c.caseId}`),
      patientBanner(c),
      h('h1', { id: 'case-headline', tabindex: '-1' }, title),
      lede ? h('p', { class: 'lede' }, lede) : null,
      h(
        'div',
        { class: 'badges' },
        dispositionBadge(c.disposition, c.kind),
        h('span', { class: `badge badge-status-${c.status}` }, `Status: ${c.status}`),
        c.queue ? h('span', { class: 'badge badge-plain' }, `${queueText(c.queue).title} queue`) : null,
        c.pool ? h('span', { class: 'badge badge-plain' }, POOL_TEXT[c.pool] ?? c.pool) : null,
        c.reason ? h('span', { class: 'badge badge-plain' }, REASON_TEXT[c.reason] ?? c.reason) : null,
        c.escalated ? h('span', { class: 'badge badge-escalated' }, 'Escalated') : null,
        c.slaDueAt ? h('span', { class: 'sla-wrap' }, 'SLA ', slaCell(c.slaDueAt)) : null,
      ),
    ),
    h(
      'div',
      { class: 'case-grid' },
      h(
        'div',
        { class: 'col-main' },
        kind.evidence(c, ui),
        h(
          'section',
          { class: 'card', 'aria-labelledby': 'timeline-title', id: 'timeline' },
          h('h2', { id: 'timeline-title' }, 'Timeline'),
          c.timeline.length
            ? h(
                'ol',
                { class: 'timeline' },
                c.timeline.map((/** @type {any} */ e) => renderEvent(e, c.kind)),
              )
            : h('p', { class: 'muted' }, 'No events yet.'),
        ),
        state.me?.role === 'admin'
          ? h(
              'section',
              { class: 'card', 'aria-labelledby': 'audit-title' },
              h('h2', { id: 'audit-title' }, 'Audit trail'),
              h('div', { id: 'audit' }, h('p', { class: 'muted' }, 'Loading…')),
            )
          : null,
      ),
      h('aside', { class: 'col-side' }, renderDecisionPanel(c), renderDetails(c)),
    ),
  );
}

/** A timeline event; its title in the case kind's words when the kind has its own (`eventText`).
 * @param {any} e @param {string | undefined} kind */
function renderEvent(e, kind) {
  const d = e.detail ?? {};
  /** @type {string[]} */
  const facts = [];
  if (d.queue) facts.push(`queue ${d.queue}`);
  if (d.pool) facts.push(`pool ${POOL_TEXT[d.pool] ?? d.pool}`);
  if (d.reason) facts.push(REASON_TEXT[d.reason] ?? d.reason);
  if (d.action) facts.push(`action ${String(d.action).replace('_', ' ')}`);
  if (d.outcome) facts.push(`outcome ${OUTCOME_TEXT[d.outcome] ?? d.outcome}`);
  if (d.role) facts.push(`as ${d.role}`);
  if (d.noteProvided) facts.push('note written to the EHR');
  return h(
    'li',
    null,
    h('time', { datetime: e.at }, fmtDateTime(e.at)),
    h(
      'div',
      null,
      h('strong', null, rendererFor(kind).eventText?.[e.kind] ?? EVENT_TEXT[e.kind] ?? e.kind),
      ' ',
      h('span', { class: 'muted' }, `by ${e.actor}`),
    ),
    facts.length ? h('div', { class: 'sub' }, facts.join(' · ')) : null,
    d.note ? h('blockquote', { class: 'note' }, String(d.note)) : null,
  );
}

/** @param {any} c */
function renderDetails(c) {
  /** @type {[string, any][]} */
  const rows = [
    ...rendererFor(c.kind).details(c, ui),
    ['Received', fmtDateTime(c.createdAt)],
    ['Updated', fmtDateTime(c.updatedAt)],
  ];
  if (c.closedAt) rows.push(['Closed', fmtDateTime(c.closedAt)]);
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'details-title' },
    h('h2', { id: 'details-title' }, 'Details'),
    h(
      'dl',
      { class: 'details' },
      rows.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]),
    ),
  );
}

/**
 * Which decisions this viewer may make on this case, or why none.
 * @param {Me | null} me @param {any} c @returns {{ actions: Action[], why: string }}
 */
function allowedActions(me, c) {
  if (!me) return { actions: [], why: '' };
  if (c.status === 'closed') return { actions: [], why: 'This case is closed.' };
  if (c.status !== 'queued' || !c.queue) return { actions: [], why: 'This case is not awaiting a decision yet.' };
  if (me.role === 'admin') return { actions: [], why: 'Admins review cases and the audit trail; clinicians decide.' };
  const mine = state.decided.get(c.caseId);
  if (mine && mine.queue === c.queue) {
    return {
      actions: [],
      why: `Your decision (${actionLabel(mine.action, c).toLowerCase()}) was accepted; the case closes once it is written back to the EHR.`,
    };
  }
  // The kind's table (the lifecycle's, or its declared actions) only spares the viewer buttons the server would refuse.
  return rendererFor(c.kind).offered(c, { me, lifecycle: state.lifecycle, kinds: state.kinds });
}

/** @param {Action} a @param {any} c */
function actionLabel(a, c) {
  return rendererFor(c.kind).actionLabel(a, c);
}

/** @param {Action} a @param {any} c */
function actionDescription(a, c) {
  return rendererFor(c.kind).actionDescription(a, c);
}

/** @param {any} c */
function renderDecisionPanel(c) {
  const { actions, why } = allowedActions(state.me, c);
  return h(
    'section',
    { class: 'card decision', 'aria-labelledby': 'decision-title' },
    h('h2', { id: 'decision-title' }, 'Decision'),
    h('div', { id: 'decision-message', role: 'alert', class: 'decision-message', tabindex: '-1' }),
    actions.length
      ? h(
          'div',
          { class: 'decision-buttons' },
          actions.map((a) =>
            h(
              'button',
              {
                type: 'button',
                class: `btn ${rendererFor(c.kind).buttonClass(a)}`,
                'data-action': a,
                onclick: () => askDecision(c, a),
              },
              actionLabel(a, c),
            ),
          ),
        )
      : h('p', { class: 'muted', id: 'decision-why' }, why),
  );
}

/** @param {string} text @param {'ok' | 'error' | 'warn'} kind */
function decisionMessage(text, kind) {
  const el = document.getElementById('decision-message');
  if (!el) return;
  el.className = `decision-message alert alert-${kind}`;
  el.textContent = text;
}

/** @param {any} c @param {Action} action */
function askDecision(c, action) {
  const reuse = state.unconfirmed && state.unconfirmed.caseId === c.caseId && state.unconfirmed.action === action;
  state.pending =
    reuse && state.unconfirmed ? state.unconfirmed : { caseId: c.caseId, action, decisionId: newDecisionId() };
  const dialog = /** @type {HTMLDialogElement} */ ($('confirm'));
  $('confirm-title').textContent = `${actionLabel(action, c)}?`;
  $('confirm-desc').textContent = actionDescription(action, c);
  $('confirm-error').textContent = '';
  if (!reuse) $('confirm-fields').replaceChildren(...rendererFor(c.kind).actionFields(action, ui));
  const ok = /** @type {HTMLButtonElement} */ ($('confirm-ok'));
  ok.textContent = reuse ? `Retry: ${actionLabel(action, c)}` : `Confirm: ${actionLabel(action, c)}`;
  ok.className = `btn ${rendererFor(c.kind).buttonClass(action) || 'btn-primary'}`;
  ok.disabled = false;
  if (!reuse) /** @type {HTMLTextAreaElement} */ ($('confirm-note')).value = '';
  dialog.showModal();
  /** @type {HTMLTextAreaElement} */ ($('confirm-note')).focus();
}

async function submitDecision() {
  const p = state.pending;
  if (!p) return;
  const dialog = /** @type {HTMLDialogElement} */ ($('confirm'));
  const ok = /** @type {HTMLButtonElement} */ ($('confirm-ok'));
  const note = /** @type {HTMLTextAreaElement} */ ($('confirm-note')).value.trim();
  const c = state.current ?? { caseId: p.caseId };
  const req = rendererFor(c.kind).request(c, p.action, { requestId: p.decisionId, note, form: $('confirm-form') });
  if ('error' in req) {
    $('confirm-error').textContent = req.error;
    return;
  }
  ok.disabled = true;
  $('confirm-error').textContent = 'Sending…';
  try {
    await api(req.path, { method: 'POST', body: req.body });
    state.unconfirmed = null;
    state.pending = null;
    state.decided.set(p.caseId, { action: p.action, queue: state.current?.queue ?? '' });
    dialog.close();
    decisionMessage(
      `Decision recorded: ${actionLabel(p.action, state.current ?? {}).toLowerCase()}. The case leaves the queue once it is written back to the EHR.`,
      'ok',
    );
    disableDecisionButtons();
    setTimeout(() => void refreshCase(p.caseId), 1500);
  } catch (err) {
    if (handleAuthError(err)) {
      dialog.close();
      return;
    }
    const status = err instanceof ApiError ? err.status : 0;
    if (status === 0 || status === 503 || status === 504 || status === 502) {
      // Not confirmed: it may or may not have landed. Keep the id so a retry cannot record it twice.
      state.unconfirmed = p;
      ok.disabled = false;
      ok.textContent = 'Retry';
      $('confirm-error').textContent = errorText(err);
      return;
    }
    state.unconfirmed = null;
    state.pending = null;
    dialog.close();
    decisionMessage(errorText(err), status === 400 ? 'warn' : 'error');
    if (status === 403 || status === 409) await refreshCase(p.caseId, true);
  }
}

function disableDecisionButtons() {
  for (const b of document.querySelectorAll('.decision-buttons button'))
    /** @type {HTMLButtonElement} */ (b).disabled = true;
}

/** Re-reads the open case, keeping the decision message. @param {string} caseId @param {boolean} [keepMessage] */
async function refreshCase(caseId, keepMessage = true) {
  if ($('case-view').hidden || state.current?.caseId !== caseId) return;
  const msg = document.getElementById('decision-message');
  const saved = msg ? { text: msg.textContent ?? '', cls: msg.className } : null;
  try {
    const c = await api(`/v1/cases/${encodeURIComponent(caseId)}`);
    if ($('case-view').hidden || state.current?.caseId !== caseId) return;
    state.current = c;
    renderCase(c);
    const after = document.getElementById('decision-message');
    if (keepMessage && saved && after && saved.text) {
      after.textContent = saved.text;
      after.className = saved.cls;
    }
    // The re-render removed the focused button: keep keyboard users next to the outcome.
    if (document.activeElement === document.body && after) after.focus();
    if (state.me?.role === 'admin') void loadAudit(caseId);
  } catch (err) {
    handleAuthError(err);
  }
}

/** A message a clinician can act on, for any failed call. @param {unknown} err */
function errorText(err) {
  if (!(err instanceof ApiError)) return 'Something went wrong. Reload the page.';
  const ref = err.requestId ? ` (reference ${err.requestId})` : '';
  switch (err.status) {
    case 0:
      return 'The server could not be reached. Check the connection and press Retry: the same decision is sent again and cannot be recorded twice.';
    case 403:
      return `Not allowed: ${err.message}. The case may have moved to another queue; it has been reloaded.${ref}`;
    case 409:
      return `This case has changed: ${err.message}. Someone may have decided it already; it has been reloaded.${ref}`;
    case 502:
    case 503:
    case 504:
      return `The decision was not confirmed (${err.message}). Press Retry: the same decision is sent again and cannot be recorded twice.${ref}`;
    case 400:
      return `The request was not accepted: ${err.message}${ref}`;
    default:
      return `${err.message}${ref}`;
  }
}

/** @param {string} caseId */
async function loadAudit(caseId) {
  try {
    const { items } = await api(`/v1/cases/${encodeURIComponent(caseId)}/audit`);
    const box = document.getElementById('audit');
    if (!box) return;
    box.replaceChildren(
      items.length
        ? h(
            'table',
            { class: 'audit' },
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                ['When', 'Action', 'Actor', 'Protocol'].map((t) => h('th', { scope: 'col' }, t)),
              ),
            ),
            h(
              'tbody',
              null,
              items.map((/** @type {any} */ a) =>
                h(
                  'tr',
                  null,
                  h('td', null, fmtDateTime(a.at)),
                  h('td', null, h('code', null, a.action)),
                  h('td', null, `${a.actorId}${a.actorRole ? ` (${a.actorRole})` : ` (${a.actorType})`}`),
                  h('td', null, a.protocolId ? `${a.protocolId} v${a.protocolVersion}` : '—'),
                ),
              ),
            ),
          )
        : h('p', { class: 'muted' }, 'No audit entries.'),
    );
  } catch (err) {
    if (handleAuthError(err)) return;
    document.getElementById('audit')?.replaceChildren(h('p', { class: 'alert alert-error' }, errorText(err)));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// SMART App Launch: the patient in context, and taking the session of a sign-in through the EHR

/** @type {Record<string, string>} */
const STATUS_TEXT = {
  received: 'Received',
  triaging: 'Being triaged',
  queued: 'Open',
  closed: 'Closed',
  failed: 'Failed',
};

/** The patient of the SMART launch and their cases here (GET /v1/cases?patientId=…), open ones first. */
async function showPatient() {
  $('queue-view').hidden = true;
  $('case-view').hidden = true;
  renderTabs();
  const view = $('patient-view');
  const patientId = state.patientId ?? '';
  view.replaceChildren(h('p', { class: 'muted' }, 'Loading the patient’s cases…'));
  const data = await api(`/v1/cases?${new URLSearchParams({ patientId, limit: '100' }).toString()}`);
  /** @type {any[]} */
  const items = data.items;
  const who = items.find((c) => c.patient && !c.patient.unavailable)?.patient;
  const title = who?.name ?? `Patient/${patientId}`;
  document.title = `${title} · Console`;
  const rows = items.map((c) =>
    h(
      'tr',
      { class: 'row', 'data-case-id': c.caseId },
      h('td', null, rendererFor(c.kind).queueCell(c, ui)), // the kind's cell links to the case
      h('td', null, STATUS_TEXT[c.status] ?? c.status),
      h('td', null, c.queue ? queueText(c.queue).title : h('span', { class: 'muted' }, '—')),
      h(
        'td',
        null,
        c.status === 'closed' ? (OUTCOME_TEXT[c.outcome] ?? c.outcome ?? '—') : dispositionBadge(c.disposition, c.kind),
      ),
      h('td', { title: fmtDateTime(c.createdAt) }, ago(c.createdAt)),
    ),
  );
  view.replaceChildren(
    h(
      'div',
      { class: 'queue-head' },
      h('h1', { id: 'patient-title', tabindex: '-1' }, `Cases of ${title}`),
      who ? h('p', { class: 'muted' }, identityFacts(who).join(' · ')) : null,
      h('p', { class: 'muted' }, 'The patient in context from the EHR. Open cases first.'),
    ),
    items.length
      ? h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'queue', id: 'patient-cases' },
            h('caption', { class: 'visually-hidden' }, 'The patient’s cases, open ones first'),
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                ...['Case', 'Status', 'Queue', 'Disposition', 'Received'].map((t) => h('th', { scope: 'col' }, t)),
              ),
            ),
            h('tbody', null, ...rows),
          ),
        )
      : h('p', { class: 'empty', id: 'patient-empty' }, 'This patient has no cases here.'),
    data.more ? h('p', { class: 'muted' }, 'Only the first 100 cases are shown.') : '',
  );
  setStatus('');
  /** @type {HTMLElement} */ ($('patient-title')).focus();
}

/**
 * After a SMART sign-in the server sends the browser to `#/smart` with a one-time HttpOnly hand-off cookie: take the
 * session (POST /smart/session), keep its token and patient for this tab, and open the patient's cases.
 */
async function takeSmartSession() {
  history.replaceState(null, '', '#/');
  let res;
  try {
    res = await fetch('/smart/session', { method: 'POST', credentials: 'same-origin', cache: 'no-store' });
  } catch {
    showSignIn('The server could not be reached.');
    return;
  }
  /** @type {any} */
  const body = await res.json().catch(() => null);
  if (!res.ok || !body?.token) {
    showSignIn(
      body?.error?.message ?? 'The sign-in through the EHR did not complete. Open the app from the EHR again.',
    );
    return;
  }
  state.patientId = body.patientId ?? null;
  if (state.patientId) sessionStorage.setItem(PATIENT_KEY, state.patientId);
  else sessionStorage.removeItem(PATIENT_KEY);
  if (state.patientId) history.replaceState(null, '', '#/patient');
  sessionStorage.setItem(SMART_KEY, '1');
  await signIn(body.token);
}

// ---------------------------------------------------------------------------------------------------------------
// Routing and polling

async function route() {
  if (!state.me) return;
  const hash = location.hash.replace(/^#/, '');
  const caseMatch = /^\/case\/(.+)$/.exec(hash);
  const onPatient = hash === '/patient' && !!state.patientId && state.me.role !== 'privacy';
  $('patient-view').hidden = !onPatient;
  $('nav-patient').setAttribute('aria-current', onPatient ? 'page' : 'false');
  const onAnalytics = /^\/analytics(\?|$)/.test(hash) && state.me.role === 'admin';
  $('analytics-view').hidden = !onAnalytics;
  $('nav-analytics').setAttribute('aria-current', onAnalytics ? 'page' : 'false');
  const onProtocols = /^\/protocols(\/|$)/.test(hash) && state.me.role === 'admin';
  $('protocols-view').hidden = !onProtocols;
  $('nav-protocols').setAttribute('aria-current', onProtocols ? 'page' : 'false');
  // Clinic onboarding and settings (./clinics.js), for admins.
  const onClinics = /^\/clinics(\/|\?|$)/.test(hash) && state.me.role === 'admin';
  $('clinics-view').hidden = !onClinics;
  $('nav-clinics').setAttribute('aria-current', onClinics ? 'page' : 'false');
  const onAccess =
    state.me.role === 'privacy' || (/^\/access(\?|$)/.test(hash) && state.me.role === 'admin' && !onAnalytics);
  $('access-view').hidden = !onAccess;
  $('nav-access').setAttribute('aria-current', onAccess ? 'page' : 'false');
  try {
    if (onAccess) {
      $('queue-view').hidden = true;
      $('case-view').hidden = true;
      renderTabs();
      await showAccess($('access-view'), {
        h,
        api: (path, opts) => api(path, opts),
        fetchRaw: (path) =>
          fetch(path, {
            headers: { authorization: `Bearer ${state.token ?? ''}` },
            cache: 'no-store',
            credentials: 'omit',
          }),
        me: state.me,
        errorText,
        handleAuthError,
      });
      setStatus('');
      return;
    }
    if (onProtocols) {
      $('queue-view').hidden = true;
      $('case-view').hidden = true;
      renderTabs();
      await showProtocols($('protocols-view'), { h, api, me: state.me, handleAuthError });
      setStatus('');
      return;
    }
    if (onClinics) {
      $('queue-view').hidden = true;
      $('case-view').hidden = true;
      renderTabs();
      setStatus('');
      await showClinics($('clinics-view'), hash, {
        h,
        token: () => state.token ?? '',
        me: state.me,
        onUnauthorized: () => signOut('Your token was not accepted (expired or revoked). Sign in again.'),
      });
      return;
    }
    if (onAnalytics) {
      $('queue-view').hidden = true;
      $('case-view').hidden = true;
      renderTabs();
      await showAnalytics($('analytics-view'), {
        h,
        api: (path) => api(path),
        fetchRaw: (path) =>
          fetch(path, {
            headers: { authorization: `Bearer ${state.token ?? ''}` },
            cache: 'no-store',
            credentials: 'omit',
          }),
        me: state.me,
        errorText,
        handleAuthError,
      });
      setStatus('');
      return;
    }
    if (onPatient) {
      await showPatient();
      return;
    }
    if (caseMatch?.[1]) {
      await openCase(decodeURIComponent(caseMatch[1]));
      return;
    }
    const q = /^\/queue\/([a-z_]+)$/.exec(hash)?.[1];
    await openQueue(q && QUEUES.includes(q) ? q : state.queue);
    setStatus('');
  } catch (err) {
    if (handleAuthError(err)) return;
    setStatus(errorText(err), 'error');
  }
}

function startPolling() {
  stopPolling();
  state.timer = window.setInterval(() => void poll(), POLL_MS);
}

function stopPolling() {
  if (state.timer !== undefined) window.clearInterval(state.timer);
  state.timer = undefined;
}

/** Refreshes the visible queue (and the tab counts); skipped while the tab is hidden or a call is in flight. */
async function poll() {
  if (
    state.polling ||
    document.hidden ||
    !state.me ||
    !$('analytics-view').hidden ||
    !$('protocols-view').hidden ||
    !$('clinics-view').hidden ||
    !$('access-view').hidden ||
    !$('patient-view').hidden
  )
    return;
  const c = state.current;
  const onCase = !$('case-view').hidden;
  // On a case view, refresh only a case this tab decided and that is still open: it is about to change.
  if (onCase && !(c && state.decided.has(c.caseId) && c.status !== 'closed')) return;
  state.polling = true;
  try {
    if (onCase && c) await refreshCase(c.caseId);
    else await loadQueue();
    if ($('status').classList.contains('status-error')) setStatus('');
  } catch (err) {
    if (!handleAuthError(err)) setStatus(`Refresh failed: ${errorText(err)} Retrying in a few seconds.`, 'error');
  } finally {
    state.polling = false;
  }
}

function wire() {
  buildTabs();
  $('signin-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = /** @type {HTMLInputElement} */ ($('token'));
    const token = input.value.trim();
    if (!token) {
      $('signin-error').textContent = 'Paste your API token first.';
      return;
    }
    $('signin-error').textContent = '';
    signIn(token).then(
      () => {
        input.value = '';
      },
      (err) => {
        $('signin-error').textContent =
          err instanceof ApiError && err.status === 401 ? 'This token was not accepted.' : errorText(err);
      },
    );
  });
  $('signout').addEventListener('click', () => signOut());
  $('page-next').addEventListener('click', () => void pageNext().catch((err) => setStatus(errorText(err), 'error')));
  $('page-prev').addEventListener('click', () => void pagePrev().catch((err) => setStatus(errorText(err), 'error')));
  $('confirm-form').addEventListener('submit', (e) => {
    e.preventDefault();
    void submitDecision();
  });
  $('confirm-cancel').addEventListener('click', () => {
    state.pending = null;
    /** @type {HTMLDialogElement} */ ($('confirm')).close();
  });
  window.addEventListener('hashchange', () => void route());
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) void poll();
  });
}

wire();
if (location.hash === '#/smart') {
  takeSmartSession().catch((err) => showSignIn(errorText(err)));
} else if (state.token) {
  signIn(state.token).catch((err) => {
    if (err instanceof ApiError && err.status === 401) signOut('Your session has ended. Sign in again.');
    else showSignIn(errorText(err));
  });
} else {
  showSignIn();
}
