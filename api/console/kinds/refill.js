// @ts-check
// How the console shows a refill case: the medication, the protocol's criteria with their evidence, supplies and lab
// orders, and the refill decisions (approve, deny, needs a visit, escalate) the lifecycle allows in its queue.

import { conditionFields, numberField, textField } from '../protocol-form.js';

/** @typedef {import('./index.js').KindRenderer} KindRenderer */
/** @typedef {import('./index.js').KindUi} KindUi */
/** @typedef {import('../protocol-form.js').FormField} FormField */
/** @typedef {import('../protocol-form.js').FormSection} FormSection */

/** @type {Record<string, string>} */
const DISPOSITION_TEXT = {
  approve: 'Meets protocol',
  needs_visit: 'Needs a visit',
  nurse_review: 'Nurse review',
  doctor_review: 'Doctor review',
};

/** A supply (approved or bridge) as a person reads it. @param {any} s */
function fmtSupply(s) {
  if (!s || typeof s !== 'object') return null;
  if (typeof s.renewalMonths === 'number') return `${s.renewalMonths} months`;
  if (typeof s.quantity === 'number') {
    const r = Number(s.refills ?? 0);
    return `#${s.quantity} with ${r} refill${r === 1 ? '' : 's'}`;
  }
  return JSON.stringify(s);
}

/** @type {Record<string, string>} */
const ACTION_ORDER_TEXT = {
  order_hba1c: 'Order HbA1c',
  order_lipid_panel: 'Order lipid panel',
  order_urine_microalbumin: 'Order urine microalbumin',
};

/** @param {any} k @param {KindUi} ui */
function renderCriterion(k, { h, fmtDate }) {
  return h(
    'li',
    { class: `criterion ${k.passed ? 'pass' : 'fail'}`, 'data-criterion': k.id },
    h(
      'div',
      { class: 'criterion-head' },
      h('span', { class: `verdict ${k.passed ? 'verdict-pass' : 'verdict-fail'}` }, k.passed ? '✓ Met' : '✗ Not met'),
      h('code', { class: 'crit-id' }, k.id),
      h('span', { class: 'clause' }, `Clause ${k.clause}`),
    ),
    h('p', { class: 'explanation' }, k.explanation),
    evidenceTable(k.id, k.evidence, { h, fmtDate }),
  );
}

/** Roles as a sentence names them (as rules/lifecycle ROLE_NOUNS). @type {Record<string, string>} */
const ROLE_WORDS = { pa: 'physician assistant' };

/**
 * The evidence of one criterion or clause as a table (shared with the other kinds' renderers).
 * @param {string} id @param {any[]} evidence @param {Pick<KindUi, 'h' | 'fmtDate'>} ui
 */
export function evidenceTable(id, evidence, { h, fmtDate }) {
  return evidence.length
    ? h(
        'table',
        { class: 'evidence' },
        h('caption', { class: 'visually-hidden' }, `Evidence for ${id}`),
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            h('th', { scope: 'col' }, 'Evidence'),
            h('th', { scope: 'col' }, 'Date'),
            h('th', { scope: 'col' }, 'Value'),
            h('th', { scope: 'col' }, 'Description'),
          ),
        ),
        h(
          'tbody',
          null,
          evidence.map((/** @type {any} */ e) =>
            h(
              'tr',
              null,
              h('td', null, h('code', null, `${e.resourceType}/${e.id}`)),
              h('td', null, fmtDate(e.date)),
              h('td', null, e.value === undefined ? '—' : String(e.value)),
              h('td', null, e.display ?? '—'),
            ),
          ),
        ),
      )
    : h('p', { class: 'no-evidence muted' }, 'No matching record on file.');
}

/** @type {KindRenderer} */
export const refill = {
  id: 'refill',
  label: 'Refill',
  dispositionText: DISPOSITION_TEXT,
  protocolForm,

  queueCell(c, { h }) {
    const href = `#/case/${encodeURIComponent(c.caseId)}`;
    return [
      h('a', { href, class: 'drug' }, c.drugName ?? 'Medication not identified yet'),
      h('div', { class: 'sub muted' }, `MedicationRequest/${c.medicationRequestId}`),
    ];
  },

  findingsCell(c, { h }) {
    return c.failedCriteria.length
      ? c.failedCriteria.map((/** @type {string} */ f) => h('code', { class: 'chip' }, f))
      : h('span', { class: 'muted' }, 'none');
  },

  queueText: {
    signature: 'Refills approved by protocol, pended in the EHR for a doctor to sign.',
    nurse: 'Refills a nurse reviews: needs a visit, nurse review, or not triaged automatically.',
    doctor: 'Refills the protocol leaves to a doctor, and escalated cases.',
    cosign: 'Refills a standing order activated; a doctor co-signs each within the policy’s window.',
  },

  eventText: { 'case.received': 'Refill request received from the EHR' },

  headline(c) {
    switch (c.disposition) {
      case 'approve':
        return {
          title: 'Meets protocol: ready to sign',
          lede: 'Every criterion passed. The refill is pended in the EHR for a doctor to sign.',
        };
      case 'needs_visit':
        return {
          title: 'Patient needs a visit before a full renewal',
          lede: c.bridgeSupply
            ? `The protocol suggests a bridge supply (${fmtSupply(c.bridgeSupply)}) until the visit.`
            : 'The protocol criteria for a renewal without a visit are not met.',
        };
      case 'nurse_review':
        return { title: 'A nurse reviews this refill', lede: 'The protocol routes this medication to nurse review.' };
      case 'doctor_review':
        return { title: 'A doctor reviews this refill', lede: 'The protocol leaves this refill to a doctor.' };
      default:
        break;
    }
    // Not triaged: in the refill's words where they differ from the console's (app.js says the rest).
    switch (c.reason) {
      case 'automation_disabled':
        return {
          title: 'Not triaged: automation is off',
          lede: 'Refill automation is disabled for this clinic; review by hand.',
        };
      case 'ehr_record_not_found':
        return {
          title: 'Not triaged: EHR record not found',
          lede: 'The refill request or the patient record could not be read.',
        };
      default:
        return { title: '', lede: '' };
    }
  },

  pageTitle(c) {
    return c.drugName ?? 'Case';
  },

  evidence(c, ui) {
    const { h } = ui;
    const failed = c.criteria.filter((/** @type {any} */ k) => !k.passed).length;
    return h(
      'section',
      { class: 'card', 'aria-labelledby': 'criteria-title' },
      h('h2', { id: 'criteria-title' }, 'Protocol criteria'),
      c.criteria.length
        ? h(
            'p',
            { class: 'muted' },
            `${c.criteria.length} evaluated, ${failed} not met` +
              (c.protocol ? ` · ${c.protocol.id} v${c.protocol.version}` : ''),
          )
        : null,
      c.criteria.length
        ? h(
            'ol',
            { class: 'criteria' },
            c.criteria.map((/** @type {any} */ k) => renderCriterion(k, ui)),
          )
        : h('p', { class: 'muted' }, 'The protocol did not run for this case, so there are no criteria to show.'),
    );
  },

  details(c, { h }) {
    return [
      ['Medication', c.drugName ?? '—'],
      ['Request', h('code', null, `MedicationRequest/${c.medicationRequestId}`)],
      ['Patient', c.patientId ? h('code', null, `Patient/${c.patientId}`) : '—'],
      ['Protocol', c.protocol ? `${c.protocol.id} v${c.protocol.version}` : '—'],
      ['Approved supply', fmtSupply(c.approvedSupply) ?? '—'],
      ['Bridge supply', fmtSupply(c.bridgeSupply) ?? '—'],
      [
        'Lab orders',
        c.actions.length
          ? h(
              'ul',
              { class: 'plain' },
              c.actions.map((/** @type {string} */ a) => h('li', null, ACTION_ORDER_TEXT[a] ?? a)),
            )
          : 'none',
      ],
    ];
  },

  // The server decides (rules/lifecycle/); its table only spares the viewer buttons it would refuse.
  offered(c, { me, lifecycle }) {
    const rule = lifecycle?.queues.find((q) => q.queue === c.queue);
    if (!rule) return { actions: [], why: '' };
    // A delegate may sign in the signature queue where the clinic's signing policy says so; the server decides.
    const delegate = c.queue === 'signature' && (lifecycle?.signingDelegates ?? []).includes(me.role);
    if (!rule.roles.includes(me.role) && !delegate) {
      const who = rule.roles.map((r) => ROLE_WORDS[r] ?? r).join(' or ');
      return { actions: [], why: `Only a ${who} can decide cases in the ${c.queue} queue.` };
    }
    return { actions: [...rule.actions], why: '' };
  },

  actionLabel(a, c) {
    switch (a) {
      case 'approve':
        return c.queue === 'signature' ? 'Sign and approve' : c.queue === 'cosign' ? 'Co-sign' : 'Approve refill';
      case 'deny':
        return c.queue === 'cosign' ? 'Stop the order' : 'Deny refill';
      case 'needs_visit':
        return 'Needs a visit';
      case 'escalate':
        return 'Escalate to doctor';
      default:
        return a;
    }
  },

  actionDescription(a, c) {
    const drug = c.drugName ?? 'this medication';
    switch (a) {
      case 'approve':
        return c.queue === 'signature'
          ? `Sign the pended refill of ${drug}. The signed order is written to the EHR.`
          : `Approve the refill of ${drug}. The order is written to the EHR.`;
      case 'deny':
        return `Deny the refill of ${drug}. The denial is recorded in the EHR.`;
      case 'needs_visit':
        return `Record that the patient needs a visit before ${drug} is renewed.`;
      case 'escalate':
        return 'Send this case to the doctor queue.';
      default:
        return '';
    }
  },

  buttonClass(a) {
    return a === 'approve' ? 'btn-primary' : a === 'deny' ? 'btn-danger' : '';
  },

  actionFields() {
    return [];
  },

  request(c, a, { requestId, note }) {
    return {
      path: `/v1/cases/${encodeURIComponent(c.caseId)}/decision`,
      body: { action: a, decisionId: requestId, ...(note ? { note } : {}) },
    };
  },
};

/** A supply's numbers (a renewal in months, or a quantity with refills). @param {any} s @param {string} path @param {string} who @returns {FormField[]} */
function supplyFields(s, path, who) {
  const p = who ? `${who}: ` : '';
  return [
    ...numberField(s, path, 'renewalMonths', `${p}renewal (months)`, 'Supply'),
    ...numberField(s, path, 'quantity', `${p}quantity`, 'Supply'),
    ...numberField(s, path, 'refills', `${p}refills`, 'Supply'),
  ];
}

/** The description and source of a rule (a route, guard, criterion, supply or action). @param {any} r @param {string} path @param {string} who @returns {FormField[]} */
function ruleText(r, path, who) {
  return [
    ...textField(r, path, 'description', `${who}: description`, 'textarea'),
    ...textField(r, path, 'source', `${who}: source`),
    ...(r?.explanation && typeof r.explanation === 'object'
      ? [
          ...textField(r.explanation, `${path}.explanation`, 'pass', `${who}: explanation when met`, 'textarea'),
          ...textField(r.explanation, `${path}.explanation`, 'fail', `${who}: explanation when not met`, 'textarea'),
        ]
      : textField(r, path, 'explanation', `${who}: explanation`, 'textarea')),
  ];
}

/**
 * The refill protocol editor's form (rules/kinds/refill/protocol.ts): per category the drug classes and ingredients
 * it covers, each criterion's visit and lab windows and thresholds, its supplies and lab orders, and the text and
 * source of each; the routes with their targets and pools; the guards; the approval's supply and the bridge supplies.
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
          title: 'Outcomes: approval supply, unclear requests',
          path: '$.outcomes',
          fields: [
            ...supplyFields(d.outcomes?.approval?.supply, '$.outcomes.approval.supply', 'Approval'),
            ...textField(
              d.outcomes?.unclear,
              '$.outcomes.unclear',
              'routeTo',
              'Unclear requests go to',
              'text',
              'Route',
            ),
          ],
        },
      ],
    },
    {
      title: 'Categories',
      groups: list(d.categories).map((c, i) => {
        const at = `$.categories[${i}]`;
        return {
          title: `${c.title ?? c.id} (${c.clause ?? ''})`,
          path: at,
          fields: [
            ...conditionFields(c.when, `${at}.when`, ''),
            ...list(c.criteria).flatMap((k, j) => [
              ...conditionFields(k.appliesWhen, `${at}.criteria[${j}].appliesWhen`, `${k.id} applies when`),
              ...conditionFields(k.when, `${at}.criteria[${j}].when`, k.id),
            ]),
            ...list(c.supply).flatMap((s, j) => [
              ...conditionFields(s.when, `${at}.supply[${j}].when`, s.id),
              ...supplyFields(s.supply, `${at}.supply[${j}].supply`, s.id),
            ]),
            ...list(c.actions).flatMap((a, j) => conditionFields(a.when, `${at}.actions[${j}].when`, a.action)),
            ...textField(c, at, 'title', 'Category title'),
            ...ruleText(c, at, 'Category'),
            ...list(c.criteria).flatMap((k, j) => ruleText(k, `${at}.criteria[${j}]`, k.id)),
            ...list(c.supply).flatMap((s, j) => ruleText(s, `${at}.supply[${j}]`, s.id)),
            ...list(c.actions).flatMap((a, j) => ruleText(a, `${at}.actions[${j}]`, a.action)),
          ],
        };
      }),
    },
    {
      title: 'Routes',
      groups: list(d.routes).map((r, i) => {
        const at = `$.routes[${i}]`;
        return {
          title: `${r.id} (${r.clause ?? ''})`,
          path: at,
          fields: [
            ...textField(r, at, 'routeTo', `${r.id}: goes to`, 'text', 'Route'),
            ...numberField(r, at, 'precedence', `${r.id}: precedence (higher first)`, 'Route'),
            ...conditionFields(r.when, `${at}.when`, r.id),
            ...ruleText(r, at, r.id),
          ],
        };
      }),
    },
    {
      title: 'Guards',
      groups: list(d.guards).map((g, i) => {
        const at = `$.guards[${i}]`;
        return {
          title: `${g.id} (${g.clause ?? ''})`,
          path: at,
          fields: [...conditionFields(g.when, `${at}.when`, g.id), ...ruleText(g, at, g.id)],
        };
      }),
    },
    {
      title: 'Bridge supplies',
      groups: list(d.bridgeSupply).map((b, i) => {
        const at = `$.bridgeSupply[${i}]`;
        return {
          title: `${b.id} (${b.clause ?? ''})`,
          path: at,
          fields: [
            ...supplyFields(b.supply, `${at}.supply`, b.id),
            ...conditionFields(b.when, `${at}.when`, b.id),
            ...ruleText(b, at, b.id),
          ],
        };
      }),
    },
  ].filter((s) => s.groups.length > 0);
}
