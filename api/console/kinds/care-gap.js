// @ts-check
// How the console shows a care-gap case (one patient, one screening protocol such as crc-screening-2021): the gap
// (which test on which date closed it, or why it is open), every clause of the protocol in order with pass / fail /
// not reached and its evidence, and the care-gap actions (sign the order, record a decline, done elsewhere, snooze,
// escalate) sent to POST /v1/cases/{caseId}/actions ({ action, actionId, note?, date?, test?, until? }).
import { conditionFields, numberField, textField } from '../protocol-form.js';
import { evidenceTable } from './refill.js';

/** @typedef {import('./index.js').KindRenderer} KindRenderer */
/** @typedef {import('./index.js').KindUi} KindUi */
/** @typedef {import('../protocol-form.js').FormSection} FormSection */

/** @type {Record<string, string>} */
const DISPOSITION_TEXT = {
  not_applicable: 'Not applicable',
  gap_closed: 'Gap closed',
  suppressed: 'Suppressed',
  outreach: 'Outreach',
  nurse_review: 'Nurse review',
  doctor_review: 'Doctor review',
};

/** Reason ids of crc-screening-2021, in words. @type {Record<string, string>} */
const REASON_TEXT = {
  birth_date_missing: 'Birth date missing',
  age_under_45: 'Under 45',
  age_over_85: 'Over 85',
  colorectal_cancer: 'Colorectal cancer on the problem list',
  total_colectomy: 'Total colectomy',
  hospice: 'Hospice care',
  palliative_care: 'Palliative care',
  frailty_and_advanced_illness: 'Frailty and advanced illness',
  frailty_and_dementia_medication: 'Frailty and dementia medication',
  nursing_home: 'Lives in a nursing home',
  positive_stool_test_without_colonoscopy: 'Positive stool test, no colonoscopy since',
  lower_gi_symptoms: 'Lower GI symptoms',
  screening_up_to_date: 'Screening up to date',
  inflammatory_bowel_disease: 'Inflammatory bowel disease',
  colonic_polyps_history: 'History of colonic polyps',
  age_76_to_85_shared_decision: 'Age 76–85: shared decision',
  screening_already_ordered: 'Screening already ordered',
  screening_order_without_result: 'Order without a result',
  screening_declined: 'Screening declined',
  not_reachable: 'Not reachable by mail or phone',
  screening_due: 'Screening due',
};

/** The protocol's orders and outreach steps, in words. @type {Record<string, string>} */
const ORDER_TEXT = {
  pend_fit_order: 'Pend a FIT kit order (draft, for signature)',
  mail_fit_outreach: 'Mailed FIT outreach',
  pend_gi_referral: 'Pend a gastroenterology referral (draft)',
};

/** The qualifying tests a "done elsewhere" can name. */
const TESTS = [
  ['colonoscopy', 'Colonoscopy'],
  ['fit', 'FIT / FOBT'],
  ['sdna_fit', 'sDNA-FIT (multitarget stool DNA)'],
  ['ct_colonography', 'CT colonography'],
  ['flexible_sigmoidoscopy', 'Flexible sigmoidoscopy'],
];

const ACTION_LABELS = /** @type {Record<string, string>} */ ({
  sign_order: 'Sign the order',
  record_decline: 'Record a decline',
  done_elsewhere: 'Done elsewhere',
  snooze: 'Snooze',
  escalate: 'Escalate',
});

/** The clause that says whether the patient is up to date (its evidence is the test that closes the gap). */
const UP_TO_DATE_CLAUSE = 'CRC-10';

const OPEN_GAP = new Set(['outreach', 'nurse_review', 'doctor_review']);

/** @param {any} e @param {KindUi} ui */
function testText(e, { fmtDate }) {
  const what = e.display ?? `${e.resourceType}/${e.id}`;
  return `${what}${e.value !== undefined ? ` (${String(e.value)})` : ''} on ${fmtDate(e.date)}`;
}

/** The newest dated piece of evidence. @param {any[]} evidence */
function newest(evidence) {
  return [...evidence].filter((e) => e.date).sort((a, b) => String(b.date).localeCompare(String(a.date)))[0];
}

/**
 * Which test and date closed the gap, or why it is open: the deciding reason's evidence for a closed gap, else the
 * newest test the up-to-date clause looked at (or none on file).
 * @param {any} c @param {KindUi} ui
 */
function gapSummary(c, ui) {
  const { h, fmtDate } = ui;
  const reasons = /** @type {any[]} */ (c.reasons ?? []);
  const clauses = /** @type {any[]} */ (c.clauses ?? []);
  if (c.disposition === 'gap_closed') {
    const test = newest(reasons.flatMap((r) => r.evidence ?? []));
    return h(
      'p',
      { class: 'gap gap-closed', 'data-gap': 'closed' },
      h('strong', null, 'Gap closed'),
      test ? ` by ${testText(test, ui)}` : '',
      c.nextDueDate ? `; next due ${fmtDate(c.nextDueDate)}.` : '.',
    );
  }
  if (OPEN_GAP.has(c.disposition)) {
    const upToDate = clauses.find((k) => k.id === UP_TO_DATE_CLAUSE);
    const last = newest(upToDate?.evidence ?? []);
    const why = reasons[0] ? (REASON_TEXT[reasons[0].id] ?? reasons[0].id) : null;
    return h(
      'p',
      { class: 'gap gap-open', 'data-gap': 'open' },
      h('strong', null, 'Gap open'),
      why ? `: ${why}` : '',
      last ? `. Last qualifying test: ${testText(last, ui)}.` : '. No qualifying test on file.',
    );
  }
  return null;
}

/** @param {any} k @param {string | null} decidedBy @param {KindUi} ui */
function renderClause(k, decidedBy, ui) {
  const { h } = ui;
  const verdict =
    k.passed === null
      ? { cls: 'verdict-none', text: '– Not reached' }
      : k.passed
        ? { cls: 'verdict-pass', text: '✓ Passed' }
        : { cls: 'verdict-fail', text: '✗ Failed' };
  const state = k.passed === null ? 'none' : k.passed ? 'pass' : 'fail';
  return h(
    'li',
    { class: `criterion clause-item ${state}${k.id === decidedBy ? ' decided' : ''}`, 'data-clause': k.id },
    h(
      'div',
      { class: 'criterion-head' },
      h('span', { class: `verdict ${verdict.cls}` }, verdict.text),
      h('code', { class: 'crit-id' }, k.id),
      k.id === decidedBy ? h('span', { class: 'badge badge-plain' }, 'Decided here') : null,
    ),
    h('p', { class: 'explanation' }, k.title),
    k.source ? h('p', { class: 'sub muted' }, `Source: ${k.source}`) : null,
    k.passed === null ? null : evidenceTable(k.id, k.evidence ?? [], ui),
  );
}

/** @param {string} label @param {HTMLElement} input @param {KindUi} ui */
function field(label, input, { h }) {
  return h('div', { class: 'field' }, h('label', { for: input.id }, label), input);
}

/** @type {KindRenderer} */
export const careGap = {
  id: 'care-gap',
  label: 'Care gap',
  dispositionText: DISPOSITION_TEXT,
  protocolForm,
  queueText: { outreach: 'Care gaps being closed by outreach: tracking items, no decision needed yet.' },

  queueCell(c, { h }) {
    const href = `#/case/${encodeURIComponent(c.caseId)}`;
    return [
      h('a', { href, class: 'drug' }, `Screening gap${c.protocol ? ` · ${c.protocol.id}` : ''}`),
      h(
        'div',
        { class: 'sub muted' },
        c.patientId ? `Patient/${c.patientId}` : 'Patient',
        c.priority === 'urgent' ? ' · ' : '',
        c.priority === 'urgent' ? h('span', { class: 'badge badge-overdue' }, 'Urgent') : null,
      ),
    ];
  },

  findingsCell(c, { h }) {
    const chips = [
      c.clause ? h('code', { class: 'chip' }, c.clause) : null,
      ...(c.reasons ?? []).map((/** @type {any} */ r) => h('code', { class: 'chip' }, r.id)),
    ].filter(Boolean);
    return chips.length ? chips : h('span', { class: 'muted' }, 'none');
  },

  headline(c) {
    const why = c.reasons?.[0] ? (REASON_TEXT[c.reasons[0].id] ?? c.reasons[0].id) : '';
    switch (c.disposition) {
      case 'outreach':
        return {
          title: 'Screening due: outreach under way',
          lede: 'A FIT kit order is pended for signature and the patient is contacted by mail.',
        };
      case 'nurse_review':
        return { title: 'A nurse follows up this screening gap', lede: why };
      case 'doctor_review':
        return {
          title: c.priority === 'urgent' ? 'Urgent: a doctor decides this screening gap' : 'A doctor decides this gap',
          lede: why,
        };
      case 'gap_closed':
        return { title: 'Screening up to date', lede: 'No work is needed until the next due date.' };
      case 'suppressed':
        return { title: 'Gap suppressed', lede: why };
      case 'not_applicable':
        return { title: 'Not in the screening population', lede: why };
      default:
        return { title: '', lede: '' };
    }
  },

  pageTitle(c) {
    return `Screening gap${c.clause ? ` ${c.clause}` : ''}`;
  },

  evidence(c, ui) {
    const { h } = ui;
    const clauses = /** @type {any[]} */ (c.clauses ?? []);
    const reached = clauses.filter((k) => k.passed !== null).length;
    return h(
      'section',
      { class: 'card', 'aria-labelledby': 'criteria-title' },
      h('h2', { id: 'criteria-title' }, 'Protocol clauses'),
      gapSummary(c, ui),
      clauses.length
        ? h(
            'p',
            { class: 'muted' },
            `${clauses.length} clauses, ${reached} evaluated` +
              (c.clause ? `, decided by ${c.clause}` : '') +
              (c.protocol ? ` · ${c.protocol.id} v${c.protocol.version}` : ''),
          )
        : null,
      clauses.length
        ? h(
            'ol',
            { class: 'criteria' },
            clauses.map((k) => renderClause(k, c.clause ?? null, ui)),
          )
        : h('p', { class: 'muted' }, 'The protocol did not run for this case, so there are no clauses to show.'),
    );
  },

  details(c, { h, fmtDate, fmtDateTime, poolText }) {
    return [
      ['Patient', c.patientId ? h('code', null, `Patient/${c.patientId}`) : '—'],
      ['Protocol', c.protocol ? `${c.protocol.id} v${c.protocol.version}` : '—'],
      ['Deciding clause', c.clause ?? '—'],
      ['Priority', c.priority ?? '—'],
      ['Routed to', c.routeTo ? poolText(c.routeTo) : '—'],
      ['Next due', c.nextDueDate ? fmtDate(c.nextDueDate) : '—'],
      ['Next step', c.dueAt ? fmtDateTime(c.dueAt) : '—'],
      [
        'Orders',
        c.actions?.length
          ? h(
              'ul',
              { class: 'plain' },
              c.actions.map((/** @type {string} */ a) => h('li', null, ORDER_TEXT[a] ?? a)),
            )
          : 'none',
      ],
    ];
  },

  // The kind's actions as the server lists them (GET /v1/kinds); the server still authorises each one.
  offered(c, { me, kinds }) {
    const declared = kinds?.find((k) => k.id === 'care-gap')?.actions ?? [];
    const inQueue = declared.filter((a) => a.queues.includes(c.queue));
    const mine = inQueue.filter((a) => a.roles.includes(me.role));
    if (inQueue.length && !mine.length) {
      const roles = [...new Set(inQueue.flatMap((a) => a.roles))];
      return { actions: [], why: `Only a ${roles.join(' or ')} can act on items in the ${c.queue} queue.` };
    }
    return { actions: mine.map((a) => a.id), why: '' };
  },

  actionLabel(a) {
    return ACTION_LABELS[a] ?? a;
  },

  actionDescription(a, c) {
    switch (a) {
      case 'sign_order':
        return c.disposition === 'doctor_review'
          ? 'Sign the pended order (the gastroenterology referral after a positive stool test).'
          : 'Sign the pended FIT kit order; the kit is mailed once it is signed.';
      case 'record_decline':
        return 'Record that the patient declined screening. The gap is suppressed for 12 months.';
      case 'done_elsewhere':
        return 'Record a qualifying test done elsewhere, with its date. The gap closes.';
      case 'snooze':
        return 'Take the item out of its queue until a date; the protocol looks again then.';
      case 'escalate':
        return c.queue === 'outreach' ? 'Send this item to the nurse queue.' : 'Send this item to the doctor queue.';
      default:
        return '';
    }
  },

  buttonClass(a) {
    return a === 'sign_order' ? 'btn-primary' : '';
  },

  actionFields(a, ui) {
    const { h } = ui;
    if (a === 'done_elsewhere') {
      const select = h(
        'select',
        { id: 'action-test', name: 'test' },
        TESTS.map(([id, label]) => h('option', { value: id }, label)),
      );
      return [
        field('Test', select, ui),
        field('Date of the test', h('input', { id: 'action-date', name: 'date', type: 'date' }), ui),
      ];
    }
    if (a === 'snooze') {
      return [field('Snooze until', h('input', { id: 'action-until', name: 'until', type: 'date' }), ui)];
    }
    return [];
  },

  // actionId: the Update id, so a retry after a 503 cannot act twice (as a refill decision's decisionId).
  request(c, a, { requestId, note, form }) {
    const value = (/** @type {string} */ name) =>
      /** @type {HTMLInputElement | HTMLSelectElement | null} */ (form.querySelector(`[name="${name}"]`))?.value ?? '';
    /** @type {Record<string, unknown>} */
    const body = { action: a, actionId: requestId, ...(note ? { note } : {}) };
    if (a === 'done_elsewhere') {
      if (!value('date')) return { error: 'Give the date of the test.' };
      body.date = value('date');
      body.test = value('test');
    }
    if (a === 'snooze') {
      if (!value('until')) return { error: 'Give the date until which the item is snoozed.' };
      body.until = value('until');
    }
    return { path: `/v1/cases/${encodeURIComponent(c.caseId)}/actions`, body };
  },
};

/**
 * The care-gap protocol editor's form (rules/kinds/care-gap/protocol.ts): the tests that close the gap with their
 * windows, each clause's windows and thresholds (and its reasons'), where it routes, its actions and its text and
 * source, and the outreach schedule.
 * @param {any} d @returns {FormSection[]}
 */
function protocolForm(d) {
  const list = (/** @type {unknown} */ v) => (Array.isArray(v) ? v : []);
  return [
    {
      title: 'Protocol',
      groups: [
        {
          title: 'Title, description, source',
          path: '$',
          fields: [
            ...textField(d, '$', 'title', 'Title'),
            ...textField(d, '$', 'description', 'Description', 'textarea'),
            ...textField(d, '$', 'source', 'Source'),
          ],
        },
        {
          title: 'Outreach schedule',
          path: '$.outreach',
          fields: [
            ...numberField(d.outreach, '$.outreach', 'reminderDay', 'Reminder on day', 'Outreach'),
            ...numberField(d.outreach, '$.outreach', 'nurseCallDay', 'Nurse call on day', 'Outreach'),
            ...numberField(d.outreach, '$.outreach', 'closeDay', 'Close on day', 'Outreach'),
            ...numberField(d.outreach, '$.outreach', 'restartAfterMonths', 'Restart after (months)', 'Outreach'),
          ],
        },
      ],
    },
    {
      title: 'Tests that close the gap',
      groups: list(d.tests).map((t, i) => {
        const at = `$.tests[${i}]`;
        return {
          title: `${t.title ?? t.id}`,
          path: at,
          fields: [
            ...numberField(t, at, 'windowMonths', `${t.id}: counts for (months)`, 'Window'),
            ...textField(t, at, 'title', `${t.id}: title`),
            ...textField(t, at, 'countsWhen', `${t.id}: counts when`),
          ],
        };
      }),
    },
    {
      title: 'Clauses, in order',
      groups: list(d.clauses).map((c, i) => {
        const at = `$.clauses[${i}]`;
        return {
          title: `${c.id}: ${c.title ?? ''}`,
          path: at,
          fields: [
            ...conditionFields(c.when, `${at}.when`, c.id),
            ...list(c.reasons).flatMap((r, j) => conditionFields(r.when, `${at}.reasons[${j}].when`, r.id)),
            ...(c.routeTo === null || typeof c.routeTo === 'string'
              ? [
                  {
                    path: `${at}.routeTo`,
                    label: `${c.id}: goes to (empty: nowhere)`,
                    type: /** @type {const} */ ('text'),
                    tag: 'Route',
                    nullable: true,
                  },
                ]
              : []),
            ...(Array.isArray(c.actions)
              ? [
                  {
                    path: `${at}.actions`,
                    label: `${c.id}: actions`,
                    type: /** @type {const} */ ('list'),
                    tag: 'Action',
                    hint: 'Comma-separated',
                  },
                ]
              : []),
            ...textField(c, at, 'title', `${c.id}: title`),
            ...textField(c, at, 'description', `${c.id}: description`, 'textarea'),
            ...textField(c, at, 'source', `${c.id}: source`),
          ],
        };
      }),
    },
  ].filter((s) => s.groups.length > 0);
}
