// @ts-check
// The console's clinic pages (issue 10 §2), for admins: the clinic list, the onboarding wizard (clinic, EHR connection,
// the webhook secret shown once, then the connection check step by step) and a clinic's settings (automation and
// pinned version per protocol kind, nurse SLA, the signing policy, the EHR connection and its check, webhook-secret
// rotation, and who changed what and when). Everything goes through the public API: /v1/clinics…, /v1/protocols,
// /v1/kinds and /v1/clinics/{id}/signing-policy. Every change is confirmed in a dialog first (the API audits it). A
// 400/422 is shown at its field (the error's JSON path); a 409 or 503 leaves the form as the admin left it and says
// what to do. Secrets (the webhook secret, the private key) live only in this module's memory, for one showing.

/**
 * What app.js hands the pages: its element builder, the session's token and who is signed in.
 * @typedef {object} ClinicsContext
 * @property {(tag: string, attrs?: Record<string, any> | null, ...children: any[]) => HTMLElement} h
 * @property {() => string} token the session's bearer token
 * @property {{ userId: string, role: string, clinicId: string | null }} me
 * @property {() => void} onUnauthorized the token was refused (401): app.js ends the session
 */

/** @typedef {{ path: string, message: string }} Issue */

class ClinicsApiError extends Error {
  /**
   * @param {number} status 0: the server could not be reached
   * @param {string} code @param {string} message @param {Issue[]} issues @param {string | undefined} requestId
   */
  constructor(status, code, message, issues, requestId) {
    super(message);
    this.status = status;
    this.code = code;
    this.issues = issues;
    this.requestId = requestId;
  }
}

/** @type {ClinicsContext} */
let ctx;

/** Shorthand for ctx.h. @type {ClinicsContext['h']} */
const h = (tag, attrs, ...children) => ctx.h(tag, attrs, ...children);

/**
 * Calls the API with the session's token; resolves with the JSON body, or throws ClinicsApiError with the error
 * envelope's code, message and issues.
 * @param {string} path @param {{ method?: string, body?: unknown }} [init]
 */
async function call(path, init = {}) {
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json', authorization: `Bearer ${ctx.token()}` };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method: init.method ?? 'GET',
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch {
    throw new ClinicsApiError(0, 'NETWORK', 'The server could not be reached', [], undefined);
  }
  /** @type {any} */
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (res.status === 401) ctx.onUnauthorized();
  if (!res.ok) {
    const e = body?.error ?? {};
    throw new ClinicsApiError(
      res.status,
      e.code ?? `HTTP_${res.status}`,
      e.message ?? res.statusText,
      Array.isArray(e.issues) ? e.issues : [],
      e.requestId,
    );
  }
  return body;
}

/** @param {string} s */
const enc = (s) => encodeURIComponent(s);

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
/** @param {string | null | undefined} iso */
const fmtDateTime = (iso) => (iso ? dateTime.format(new Date(iso)) : '—');

/** "4 h", "90 min", "2 d" from seconds. @param {number} s */
function duration(s) {
  if (s % 86400 === 0) return `${s / 86400} d`;
  if (s % 3600 === 0) return `${s / 3600} h`;
  if (s % 60 === 0) return `${s / 60} min`;
  return `${s} s`;
}

/**
 * A message for a failed change that says what to do; the form keeps the admin's entries whatever happened.
 * @param {unknown} err @param {string} what e.g. "the settings" @param {string} [conflictHint] what to do on a 409
 */
function failureText(err, what, conflictHint) {
  if (!(err instanceof ClinicsApiError)) return `Something went wrong, and ${what} may not be saved. Reload the page.`;
  const ref = err.requestId ? ` (reference ${err.requestId})` : '';
  switch (err.status) {
    case 0:
      return `The server could not be reached, so ${what} was not saved. Your entries are kept: check the connection and press the button again.`;
    case 400:
    case 422:
      return err.issues.length
        ? `Nothing was saved: fix the marked ${err.issues.length === 1 ? 'field' : 'fields'} and try again.`
        : `Nothing was saved: ${err.message}.${ref}`;
    case 403:
      return `Not allowed: ${err.message}.${ref}`;
    case 404:
      return `Not found: ${err.message}. It may have been removed; reload the page.${ref}`;
    case 409:
      return `${err.message}. Nothing was saved and your entries are kept: ${conflictHint ?? 'reload to see the change, then make yours again'}.${ref}`;
    case 502:
    case 503:
    case 504:
      return `The server could not save ${what} just now (${err.message}). Nothing was lost: your entries are kept, press the button again in a moment.${ref}`;
    default:
      return `${err.message}${ref}`;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Form pieces

/**
 * A labelled control with a hint and a place for its error (aria-describedby ties all three together).
 * @param {string} id @param {string} label @param {HTMLElement} control @param {string} [hint]
 */
function field(id, label, control, hint) {
  control.id = id;
  const describedBy = [hint ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(' ');
  control.setAttribute('aria-describedby', describedBy);
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label),
    hint ? h('p', { class: 'hint muted', id: `${id}-hint` }, hint) : null,
    control,
    h('p', { class: 'error-text field-error', id: `${id}-error` }),
  );
}

/** @param {Record<string, any>} attrs */
const input = (attrs) => /** @type {HTMLInputElement} */ (h('input', { spellcheck: 'false', ...attrs }));

/**
 * Clears the errors of every control in `scope`, then marks the ones the issues name (by JSON path, through
 * `controls`); returns the issues no control shows (for the form's message).
 * @param {HTMLElement} scope @param {Issue[]} issues @param {Record<string, HTMLElement | undefined>} controls
 */
function showIssues(scope, issues, controls) {
  for (const el of scope.querySelectorAll('[aria-invalid="true"]')) el.removeAttribute('aria-invalid');
  for (const el of scope.querySelectorAll('.field-error')) el.textContent = '';
  /** @type {Issue[]} */
  const rest = [];
  /** @type {HTMLElement | null} */
  let first = null;
  for (const issue of issues) {
    const el = controls[issue.path];
    const err = el ? document.getElementById(`${el.id}-error`) : null;
    if (!el || !err) {
      rest.push(issue);
      continue;
    }
    el.setAttribute('aria-invalid', 'true');
    err.textContent = err.textContent ? `${err.textContent} ${issue.message}` : issue.message;
    first ??= el;
  }
  first?.focus();
  return rest;
}

/**
 * A message line for a form: role=alert so it is read out when it changes.
 * @param {string} id
 */
const messageLine = (id) => h('div', { id, class: 'form-message', role: 'alert', 'data-testid': id });

/** @param {HTMLElement} el @param {string} text @param {'ok' | 'error' | 'warn'} kind */
function say(el, text, kind) {
  el.className = text ? `form-message alert alert-${kind}` : 'form-message';
  el.textContent = text;
}

/**
 * Shows a failure: issues at their fields (the rest in the message), otherwise the failure text.
 * @param {unknown} err @param {HTMLElement} scope @param {HTMLElement} message
 * @param {Record<string, HTMLElement | undefined>} controls @param {string} what @param {string} [conflictHint]
 */
function showFailure(err, scope, message, controls, what, conflictHint) {
  const issues = err instanceof ClinicsApiError && (err.status === 400 || err.status === 422) ? err.issues : [];
  const rest = showIssues(scope, issues, controls);
  const extra = rest.map((i) => `${i.path === '$' ? '' : `${i.path}: `}${i.message}`).join(' ');
  say(message, `${failureText(err, what, conflictHint)}${extra ? ` ${extra}` : ''}`, 'error');
}

/** @type {HTMLDialogElement | null} */
let dialog = null;

/**
 * Asks before a change: what will change, with Cancel and a confirm button. Resolves true when confirmed.
 * @param {string} title @param {(string | Node)[]} lines @param {string} okLabel
 * @returns {Promise<boolean>}
 */
function confirmChange(title, lines, okLabel) {
  const opener = /** @type {HTMLElement | null} */ (document.activeElement);
  if (!dialog) {
    dialog = /** @type {HTMLDialogElement} */ (
      h('dialog', { id: 'clinic-confirm', 'aria-labelledby': 'clinic-confirm-title' })
    );
    document.body.append(dialog);
  }
  const d = dialog;
  return new Promise((resolve) => {
    const ok = h(
      'button',
      { type: 'submit', class: 'btn btn-primary', value: 'ok', 'data-testid': 'confirm-ok' },
      okLabel,
    );
    d.replaceChildren(
      h(
        'form',
        { method: 'dialog' },
        h('h2', { id: 'clinic-confirm-title' }, title),
        h(
          'ul',
          { class: 'confirm-lines' },
          lines.map((l) => h('li', null, l)),
        ),
        h(
          'div',
          { class: 'dialog-actions' },
          h('button', { type: 'submit', class: 'btn', value: 'cancel' }, 'Cancel'),
          ok,
        ),
      ),
    );
    d.returnValue = '';
    d.addEventListener(
      'close',
      () => {
        resolve(d.returnValue === 'ok');
        if (opener?.isConnected) opener.focus();
      },
      { once: true },
    );
    d.showModal();
    ok.focus();
  });
}

/** A secret shown once: a read-only field to select or copy, and a copy button. @param {string} id @param {string} value */
function secretBox(id, value) {
  const box = input({ id, value, readonly: true, class: 'secret', 'data-testid': id });
  const copied = h('span', { class: 'muted', role: 'status' });
  return h(
    'div',
    { class: 'secret-row' },
    box,
    h(
      'button',
      {
        type: 'button',
        class: 'btn',
        onclick: () => {
          box.select();
          void navigator.clipboard?.writeText(value).then(
            () => (copied.textContent = 'Copied.'),
            () => (copied.textContent = 'Select the text and copy it.'),
          );
        },
      },
      'Copy',
    ),
    copied,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// The connection check

/** @type {Record<string, string>} */
const STEP_STATUS = { pass: 'Passed', fail: 'Failed', skipped: 'Skipped' };

/** The check's steps, each with its outcome, what happened and the fix. @param {any} report */
function reportView(report) {
  const failed = report.steps.filter((/** @type {any} */ s) => s.status === 'fail').length;
  return h(
    'div',
    { class: 'check-report', 'data-testid': 'check-report', 'data-ok': String(report.ok) },
    h(
      'p',
      { class: `alert ${report.ok ? 'alert-ok' : 'alert-error'}`, 'data-testid': 'check-summary' },
      report.ok
        ? 'The connection works: ehr-autopilot can read this EHR.'
        : `${failed} ${failed === 1 ? 'step' : 'steps'} failed. Follow the fix, then check again.`,
    ),
    h(
      'ol',
      { class: 'check-steps' },
      report.steps.map((/** @type {any} */ s) =>
        h(
          'li',
          { class: `check-step check-${s.status}`, 'data-testid': `step-${s.id}`, 'data-status': s.status },
          h(
            'div',
            { class: 'check-head' },
            h('h3', null, s.title),
            h('span', { class: `badge check-badge check-badge-${s.status}` }, STEP_STATUS[s.status] ?? s.status),
          ),
          h('p', { class: 'check-detail' }, s.detail),
          s.fix ? h('p', { class: 'check-fix' }, h('strong', null, 'How to fix: '), s.fix) : null,
        ),
      ),
    ),
  );
}

/**
 * Runs the check for a clinic into `box` (a live region), with a button to run it again.
 * @param {HTMLElement} box @param {string} clinicId
 */
async function runCheck(box, clinicId) {
  box.setAttribute('aria-busy', 'true');
  box.replaceChildren(h('p', { class: 'muted' }, 'Checking the connection… (up to half a minute)'));
  try {
    const report = await call(`/v1/clinics/${enc(clinicId)}/connection-check`, { method: 'POST' });
    box.replaceChildren(reportView(report));
  } catch (err) {
    box.replaceChildren(h('p', { class: 'alert alert-error' }, failureText(err, 'the check')));
  } finally {
    box.removeAttribute('aria-busy');
  }
}

/** The clinic's batch setting (fhirBatch), as the connection form names it. @type {Record<string, string>} */
const BATCH_LABELS = {
  auto: 'Automatic: batch when the EHR supports it (probed once)',
  always: 'Always batch',
  never: 'Never batch: parallel searches',
};

/**
 * The form that changes a clinic's EHR connection (global admins): base URL, client id, token URL, a new private key.
 * Only what the admin changed is sent; the key is sent once and then forgotten.
 * @param {any} clinic @param {string} prefix unique id prefix @param {(result: any) => void} onSaved
 */
function connectionForm(clinic, prefix, onSaved) {
  const base = input({ name: 'fhirBaseUrl', type: 'url', value: clinic.fhirBaseUrl, required: true });
  const client = input({ name: 'fhirClientId', value: clinic.fhirClientId, required: true });
  const tokenUrl = input({ name: 'fhirTokenUrl', type: 'url', value: clinic.fhirTokenUrl ?? '' });
  const key = /** @type {HTMLTextAreaElement} */ (
    h('textarea', { name: 'privateKey', rows: 4, spellcheck: 'false', autocomplete: 'off' })
  );
  const kid = input({ name: 'keyId' });
  const batchNow = clinic.fhirBatch ?? 'auto';
  const batch = /** @type {HTMLSelectElement} */ (
    h(
      'select',
      { name: 'fhirBatch' },
      Object.entries(BATCH_LABELS).map(([value, label]) => h('option', { value, selected: value === batchNow }, label)),
    )
  );
  const message = messageLine(`${prefix}-message`);
  /** @type {Record<string, HTMLElement>} */
  const controls = {
    '$.fhirBaseUrl': base,
    '$.fhirClientId': client,
    '$.fhirTokenUrl': tokenUrl,
    '$.privateKey': key,
    '$.keyId': kid,
    '$.fhirBatch': batch,
  };
  const form = h(
    'form',
    { class: 'stack', novalidate: true, 'aria-label': 'Change the EHR connection' },
    field(`${prefix}-base`, 'FHIR base URL', base),
    field(`${prefix}-client`, 'SMART client id', client),
    field(`${prefix}-token-url`, 'Token URL', tokenUrl, 'Leave empty to discover it from the EHR.'),
    field(
      `${prefix}-key`,
      'New private key',
      key,
      'Only to replace the key: PEM or JWK. It is stored encrypted and never shown again.',
    ),
    field(`${prefix}-kid`, 'Key id', kid, 'Only with a new key, when the EHR registered it under another key id.'),
    field(
      `${prefix}-batch`,
      'Batch reads',
      batch,
      'How a patient’s record is read: one batch request, or several searches. Check the connection to see what the EHR supports.',
    ),
    message,
    h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Save connection')),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    /** @type {Record<string, unknown>} */
    const body = {};
    /** @type {string[]} */
    const lines = [];
    if (base.value.trim() !== clinic.fhirBaseUrl) {
      body.fhirBaseUrl = base.value.trim();
      lines.push(`FHIR base URL: ${clinic.fhirBaseUrl} → ${base.value.trim()}`);
    }
    if (client.value.trim() !== clinic.fhirClientId) {
      body.fhirClientId = client.value.trim();
      lines.push(`SMART client id: ${clinic.fhirClientId} → ${client.value.trim()}`);
    }
    const tokenNow = tokenUrl.value.trim() === '' ? null : tokenUrl.value.trim();
    if (tokenNow !== (clinic.fhirTokenUrl ?? null)) {
      body.fhirTokenUrl = tokenNow;
      lines.push(`Token URL: ${clinic.fhirTokenUrl ?? 'discovered'} → ${tokenNow ?? 'discovered'}`);
    }
    if (batch.value !== batchNow) {
      body.fhirBatch = batch.value;
      lines.push(`Batch reads: ${BATCH_LABELS[batchNow] ?? batchNow} → ${BATCH_LABELS[batch.value] ?? batch.value}`);
    }
    if (key.value.trim()) {
      body.privateKey = key.value.trim();
      lines.push('A new private key (stored encrypted; the old one is replaced)');
      if (kid.value.trim()) body.keyId = kid.value.trim();
    } else if (kid.value.trim()) {
      body.keyId = kid.value.trim(); // the server says at $.keyId that a key id needs a key
    }
    if (Object.keys(body).length === 0) {
      say(message, 'Nothing to save: change a field first.', 'warn');
      return;
    }
    void (async () => {
      if (!(await confirmChange(`Change the EHR connection of ${clinic.name}?`, lines, 'Save connection'))) return;
      say(message, 'Saving…', 'warn');
      try {
        const result = await call(`/v1/clinics/${enc(clinic.id)}/ehr-connection`, { method: 'PATCH', body });
        key.value = '';
        showIssues(form, [], controls);
        say(message, 'Saved.', 'ok');
        onSaved(result);
      } catch (err) {
        showFailure(err, form, message, controls, 'the connection');
      }
    })();
  });
  return form;
}

// ---------------------------------------------------------------------------------------------------------------
// The list

/** @param {HTMLElement} view */
async function showList(view) {
  document.title = 'Clinics · Console';
  const global = ctx.me.clinicId === null;
  const { items } = await call('/v1/clinics');
  view.replaceChildren(
    h(
      'div',
      { class: 'queue-head clinics-head' },
      h('h1', { id: 'clinics-title' }, 'Clinics'),
      global
        ? h('a', { class: 'btn btn-primary', href: '#/clinics/new', 'data-testid': 'onboard' }, 'Onboard a clinic')
        : null,
    ),
    items.length
      ? h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'queue clinics-table', 'data-testid': 'clinics' },
            h('caption', { class: 'visually-hidden' }, 'Clinics you administer'),
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                ['Clinic', 'Time zone', 'EHR', 'Nurse SLA', 'Updated'].map((t) => h('th', { scope: 'col' }, t)),
              ),
            ),
            h(
              'tbody',
              null,
              items.map((/** @type {any} */ c) =>
                h(
                  'tr',
                  null,
                  h(
                    'td',
                    null,
                    h('a', { href: `#/clinics/${enc(c.id)}` }, c.name),
                    h('div', { class: 'sub muted' }, c.id),
                  ),
                  h('td', null, c.timezone),
                  h('td', null, h('code', null, c.fhirBaseUrl)),
                  h('td', null, duration(c.nurseSlaSeconds)),
                  h('td', null, fmtDateTime(c.updatedAt)),
                ),
              ),
            ),
          ),
        )
      : h(
          'p',
          { class: 'empty', 'data-testid': 'clinics-empty' },
          global ? 'No clinics yet. Onboard the first one.' : 'No clinic is visible to this token.',
        ),
  );
  /** @type {HTMLElement} */ (view.querySelector('h1')).focus();
}

// ---------------------------------------------------------------------------------------------------------------
// The onboarding wizard

const WIZARD_STEPS = ['Clinic', 'EHR connection', 'Webhook secret and key', 'Connection check'];

/**
 * The wizard's state while it is open: the entries (kept through errors and back/next), then what the server answered
 * (the webhook secret, shown once, is dropped when the wizard is left).
 * @typedef {{ id: string, name: string, timezone: string, protocolId: string, fhirBaseUrl: string,
 *   fhirClientId: string, privateKey: string, fhirTokenUrl: string, keyId: string }} WizardFields
 * @type {{ step: number, fields: WizardFields, created: any | null }}
 */
let wizard = newWizard();

function newWizard() {
  return {
    step: 0,
    fields: {
      id: '',
      name: '',
      timezone: Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC',
      protocolId: '',
      fhirBaseUrl: '',
      fhirClientId: '',
      privateKey: '',
      fhirTokenUrl: '',
      keyId: '',
    },
    created: null,
  };
}

/** The fields of each of the first two steps (a 400/422 at a field of step 1 takes the admin back there). */
const STEP_OF_FIELD = /** @type {Record<string, number>} */ ({
  id: 0,
  name: 0,
  timezone: 0,
  protocolId: 0,
  fhirBaseUrl: 1,
  fhirClientId: 1,
  privateKey: 1,
  fhirTokenUrl: 1,
  keyId: 1,
});

/** The time zones this browser knows (the server checks against its own list and answers 400 at the field). */
function timeZones() {
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  return [...new Set(['UTC', ...zones])].sort();
}

/** @param {HTMLElement} view */
async function showWizard(view) {
  document.title = 'Onboard a clinic · Console';
  if (ctx.me.clinicId !== null) {
    view.replaceChildren(
      h('h1', { id: 'clinics-title', tabindex: '-1' }, 'Onboard a clinic'),
      h('p', { class: 'alert alert-warn' }, 'Only a global admin (a token bound to no clinic) can onboard a clinic.'),
    );
    return;
  }
  const protocols = (await call('/v1/protocols')).items.filter((/** @type {any} */ p) => p.publishedVersion !== null);
  if (!wizard.fields.protocolId && protocols[0]) wizard.fields.protocolId = protocols[0].id;
  renderWizard(view, protocols);
}

/** @param {HTMLElement} view @param {any[]} protocols @param {PendingIssues} [pending] */
function renderWizard(view, protocols, pending) {
  const w = wizard;
  const steps = h(
    'ol',
    { class: 'wizard-steps', 'aria-label': 'Onboarding steps' },
    WIZARD_STEPS.map((title, i) =>
      h(
        'li',
        { class: i === w.step ? 'current' : i < w.step ? 'done' : '', 'aria-current': i === w.step ? 'step' : null },
        h('span', { class: 'visually-hidden' }, i < w.step ? 'Done: ' : i === w.step ? 'Current: ' : 'Next: '),
        `${i + 1}. ${title}`,
      ),
    ),
  );
  const heading = h('h1', { id: 'clinics-title', tabindex: '-1' }, 'Onboard a clinic');
  const stepTitle = h('h2', { id: 'wizard-step-title', tabindex: '-1' }, WIZARD_STEPS[w.step] ?? '');
  const body =
    w.step === 0
      ? clinicStep(view, protocols, pending)
      : w.step === 1
        ? connectionStep(view, protocols, pending)
        : w.step === 2
          ? secretStep(view, protocols)
          : checkStep();
  view.replaceChildren(
    heading,
    steps,
    h(
      'section',
      { class: 'card wizard', 'aria-labelledby': 'wizard-step-title', 'data-testid': 'wizard' },
      stepTitle,
      body,
    ),
  );
  // With issues to show, the step focuses the first field at fault instead.
  if (!pending?.issues.length) stepTitle.focus();
}

/**
 * Issues from the server to show once a step is rendered (a 400/422 that belongs to the other step), and the message.
 * @typedef {{ issues: Issue[], message: string }} PendingIssues
 */

/**
 * Binds inputs to the wizard's fields (so entries survive going back and forth and failed requests).
 * @param {Record<string, HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>} controls
 */
function bind(controls) {
  const fields = /** @type {Record<string, string>} */ (/** @type {unknown} */ (wizard.fields));
  for (const [name, el] of Object.entries(controls)) {
    el.value = fields[name] ?? '';
    el.addEventListener('input', () => (fields[name] = el.value));
    el.addEventListener('change', () => (fields[name] = el.value));
  }
}

/**
 * Marks empty required fields (client side, before any request). @param {HTMLElement} scope
 * @param {[string, HTMLElement & { value: string }, string][]} required [path, control, message]
 */
function markMissing(scope, required) {
  return showIssues(
    scope,
    required.filter(([, el]) => el.value.trim() === '').map(([path, , message]) => ({ path, message })),
    Object.fromEntries(required.map(([path, el]) => [path, el])),
  );
}

/** @param {HTMLElement} view @param {any[]} protocols @param {PendingIssues} [pending] */
function clinicStep(view, protocols, pending) {
  const id = input({ name: 'id', required: true, autocomplete: 'off', pattern: '[A-Za-z0-9][A-Za-z0-9._-]{0,127}' });
  const name = input({ name: 'name', required: true, autocomplete: 'off' });
  const tz = /** @type {HTMLSelectElement} */ (
    h(
      'select',
      { name: 'timezone', required: true },
      timeZones().map((z) => h('option', { value: z }, z)),
    )
  );
  const protocol = /** @type {HTMLSelectElement} */ (
    h(
      'select',
      { name: 'protocolId', required: true },
      protocols.map((p) => h('option', { value: p.id }, `${p.title} (${p.id}, ${p.kind}, v${p.publishedVersion})`)),
    )
  );
  bind({ id, name, timezone: tz, protocolId: protocol });
  const message = messageLine('wizard-message');
  const controls = { '$.id': id, '$.name': name, '$.timezone': tz, '$.protocolId': protocol };
  const form = h(
    'form',
    { class: 'stack', novalidate: true },
    field(
      'wz-id',
      'Clinic id',
      id,
      'Letters, digits, . _ - (up to 128). It appears in the webhook URLs and cannot change.',
    ),
    field('wz-name', 'Name', name),
    field('wz-tz', 'Time zone', tz, 'Working hours, SLAs and reports use it.'),
    field('wz-protocol', 'Protocol', protocol, 'The published protocol the clinic runs; automation starts off.'),
    message,
    h(
      'div',
      { class: 'form-actions' },
      h('button', { type: 'submit', class: 'btn btn-primary' }, 'Next: EHR connection'),
    ),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const missing = markMissing(form, [
      ['$.id', id, 'Enter the clinic id.'],
      ['$.name', name, 'Enter the clinic’s name.'],
    ]);
    if (form.querySelector('[aria-invalid="true"]') || missing.length) {
      say(message, 'Fill in the marked fields.', 'error');
      return;
    }
    wizard.step = 1;
    renderWizard(view, protocols);
  });
  if (pending) {
    queueMicrotask(() => {
      const rest = showIssues(form, pending.issues, controls);
      say(message, [pending.message, ...rest.map((i) => i.message)].join(' '), 'error');
    });
  }
  return form;
}

/** @param {HTMLElement} view @param {any[]} protocols @param {PendingIssues} [pending] */
function connectionStep(view, protocols, pending) {
  const base = input({
    name: 'fhirBaseUrl',
    type: 'url',
    required: true,
    placeholder: 'https://ehr.example.org/fhir/R4',
  });
  const client = input({ name: 'fhirClientId', required: true, autocomplete: 'off' });
  const key = /** @type {HTMLTextAreaElement} */ (
    h('textarea', { name: 'privateKey', rows: 6, spellcheck: 'false', autocomplete: 'off' })
  );
  const tokenUrl = input({ name: 'fhirTokenUrl', type: 'url' });
  const kid = input({ name: 'keyId', autocomplete: 'off' });
  bind({ fhirBaseUrl: base, fhirClientId: client, privateKey: key, fhirTokenUrl: tokenUrl, keyId: kid });
  const message = messageLine('wizard-message');
  /** @type {Record<string, HTMLElement>} */
  const controls = {
    '$.fhirBaseUrl': base,
    '$.fhirClientId': client,
    '$.privateKey': key,
    '$.fhirTokenUrl': tokenUrl,
    '$.keyId': kid,
  };
  const create = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create the clinic');
  const form = h(
    'form',
    { class: 'stack', novalidate: true },
    field('wz-base', 'FHIR base URL', base, 'The EHR’s FHIR R4 endpoint, as its FHIR or developer settings show it.'),
    field('wz-client', 'SMART client id', client, 'The Backend Services client the EHR registered for ehr-autopilot.'),
    field(
      'wz-key',
      'Private key',
      key,
      'The client’s private key (PEM, or a JWK), RS384 or ES384. It is stored encrypted and never shown again; leave empty for an EHR that needs no token.',
    ),
    h(
      'details',
      { class: 'advanced' },
      h('summary', null, 'Token URL and key id (optional)'),
      field('wz-token-url', 'Token URL', tokenUrl, 'Leave empty to discover it from the EHR (SMART configuration).'),
      field('wz-kid', 'Key id', kid, 'The key id the EHR registered; by default the key’s own or its thumbprint.'),
    ),
    message,
    h(
      'div',
      { class: 'form-actions' },
      h(
        'button',
        {
          type: 'button',
          class: 'btn',
          onclick: () => {
            wizard.step = 0;
            renderWizard(view, protocols);
          },
        },
        'Back',
      ),
      create,
    ),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const missing = markMissing(form, [
      ['$.fhirBaseUrl', base, 'Enter the FHIR base URL.'],
      ['$.fhirClientId', client, 'Enter the SMART client id.'],
    ]);
    if (missing.length || form.querySelector('[aria-invalid="true"]')) {
      say(message, 'Fill in the marked fields.', 'error');
      return;
    }
    void createClinic(view, protocols, form, message, controls);
  });
  if (pending) {
    queueMicrotask(() => {
      const rest = showIssues(form, pending.issues, controls);
      say(message, [pending.message, ...rest.map((i) => i.message)].join(' '), 'error');
    });
  }
  return form;
}

/**
 * Confirms and sends POST /v1/clinics. A 400/422 is shown at its fields (on the step they belong to), a 409 (the id
 * is taken) at the id; a 503 or no answer keeps everything entered.
 * @param {HTMLElement} view @param {any[]} protocols @param {HTMLElement} form @param {HTMLElement} message
 * @param {Record<string, HTMLElement>} controls
 */
async function createClinic(view, protocols, form, message, controls) {
  const f = wizard.fields;
  const lines = [
    `Clinic ${f.id}: ${f.name} (${f.timezone})`,
    `Protocol ${f.protocolId}, automation off until you switch it on`,
    `EHR ${f.fhirBaseUrl}, client ${f.fhirClientId}${f.privateKey.trim() ? ', with a private key (stored encrypted)' : ', no private key'}`,
    'A webhook secret is generated and shown once, on the next page.',
  ];
  if (!(await confirmChange('Create this clinic?', lines, 'Create the clinic'))) return;
  /** @type {Record<string, unknown>} */
  const body = {
    id: f.id.trim(),
    name: f.name.trim(),
    timezone: f.timezone,
    protocolId: f.protocolId,
    fhirBaseUrl: f.fhirBaseUrl.trim(),
    fhirClientId: f.fhirClientId.trim(),
  };
  if (f.privateKey.trim()) body.privateKey = f.privateKey.trim();
  if (f.fhirTokenUrl.trim()) body.fhirTokenUrl = f.fhirTokenUrl.trim();
  if (f.keyId.trim()) body.keyId = f.keyId.trim();
  say(message, 'Creating the clinic…', 'warn');
  try {
    wizard.created = await call('/v1/clinics', { method: 'POST', body });
    // Accepted once: the key leaves this page's memory now.
    f.privateKey = '';
    wizard.step = 2;
    renderWizard(view, protocols);
  } catch (err) {
    if (err instanceof ClinicsApiError && err.status === 409) {
      wizard.step = 0;
      renderWizard(view, protocols, {
        issues: [{ path: '$.id', message: `${err.message}: choose another id.` }],
        message: 'Nothing was created; your entries are kept. Choose another clinic id, then continue.',
      });
      return;
    }
    const issues = err instanceof ClinicsApiError && (err.status === 400 || err.status === 422) ? err.issues : [];
    const firstStep = issues.some((i) => STEP_OF_FIELD[i.path.replace(/^\$\./, '').split(/[.[]/)[0] ?? ''] === 0);
    if (firstStep) {
      wizard.step = 0;
      renderWizard(view, protocols, { issues, message: failureText(err, 'the clinic') });
      return;
    }
    showFailure(err, form, message, controls, 'the clinic');
  }
}

/** @param {HTMLElement} view @param {any[]} protocols */
function secretStep(view, protocols) {
  const c = wizard.created;
  if (!c) {
    wizard.step = 0;
    return h('p', null, 'Start again.');
  }
  const stored = input({ type: 'checkbox', name: 'stored' });
  stored.id = 'wz-stored';
  const message = messageLine('wizard-message');
  const form = h(
    'form',
    { class: 'stack', novalidate: true },
    h('p', { class: 'alert alert-ok' }, `Clinic ${c.clinic.id} was created.`),
    h('h3', null, 'Webhook secret'),
    h(
      'p',
      null,
      'Configure it in the EHR’s webhook sender for this clinic. It is shown only now: it cannot be read again, only rotated.',
    ),
    h('label', { for: 'wz-secret', class: 'visually-hidden' }, 'Webhook secret'),
    secretBox('wz-secret', c.webhookSecret),
    h('h3', null, 'Public key to register with the EHR'),
    c.publicJwks
      ? [
          h(
            'p',
            null,
            `Register this key set (JWKS) with the EHR for client ${c.clinic.fhirClientId}. It is public; the private key stays encrypted here.`,
          ),
          h(
            'pre',
            { class: 'jwks', tabindex: '0', 'aria-label': 'Public JWKS', 'data-testid': 'jwks' },
            JSON.stringify(c.publicJwks, null, 2),
          ),
        ]
      : h(
          'p',
          { class: 'muted' },
          'No private key was given: ehr-autopilot will call the EHR without an access token.',
        ),
    h('div', { class: 'check-row' }, stored, h('label', { for: 'wz-stored' }, 'I have stored the webhook secret')),
    message,
    h(
      'div',
      { class: 'form-actions' },
      h('button', { type: 'submit', class: 'btn btn-primary' }, 'Next: check the connection'),
    ),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!stored.checked) {
      say(message, 'Store the webhook secret first: it cannot be shown again.', 'error');
      stored.focus();
      return;
    }
    c.webhookSecret = ''; // shown once
    wizard.step = 3;
    renderWizard(view, protocols);
  });
  return form;
}

function checkStep() {
  const c = wizard.created;
  if (!c) return h('p', null, 'Start again.');
  const box = h('div', { class: 'check-box', 'aria-live': 'polite', 'data-testid': 'check-box' });
  const again = h(
    'button',
    {
      type: 'button',
      class: 'btn btn-primary',
      'data-testid': 'check-again',
      onclick: () => void runCheck(box, c.clinic.id),
    },
    'Check again',
  );
  const edit = h(
    'details',
    { class: 'advanced' },
    h('summary', null, 'Change the EHR connection'),
    connectionForm(c.clinic, 'wz-conn', (result) => {
      c.clinic = result.clinic;
      if (result.publicJwks) c.publicJwks = result.publicJwks;
      void runCheck(box, c.clinic.id);
    }),
  );
  void runCheck(box, c.clinic.id);
  return h(
    'div',
    { class: 'stack' },
    h(
      'p',
      null,
      'Four steps, as the worker will use the EHR: its CapabilityStatement, SMART discovery, an access token, and one test read (a count of patients, no patient record).',
    ),
    box,
    c.publicJwks
      ? h(
          'details',
          { class: 'advanced' },
          h('summary', null, 'Public key to register with the EHR'),
          h(
            'pre',
            { class: 'jwks', tabindex: '0', 'aria-label': 'Public JWKS' },
            JSON.stringify(c.publicJwks, null, 2),
          ),
        )
      : null,
    edit,
    h(
      'div',
      { class: 'form-actions' },
      again,
      h(
        'a',
        {
          class: 'btn',
          href: `#/clinics/${enc(c.clinic.id)}`,
          'data-testid': 'wizard-done',
          onclick: () => {
            wizard = newWizard();
          },
        },
        'Done: open the clinic’s settings',
      ),
    ),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Settings

/** @type {Record<string, string>} */
const MODE_TEXT = {
  doctor: 'A doctor signs every approval',
  delegated: 'Delegates sign protocol approvals',
  standing_order: 'Standing order: activated at once, a doctor co-signs',
};
/** @type {Record<string, string>} */
const DELEGATE_TEXT = { nurse: 'Nurses', pharmacist: 'Pharmacists', pa: 'Physician assistants' };

/** @type {Record<string, string>} */
const FIELD_TEXT = {
  name: 'Name',
  timezone: 'Time zone',
  nurseSlaSeconds: 'Nurse SLA',
  protocolId: 'Protocol',
  protocolVersion: 'Pinned version',
  fhirBaseUrl: 'FHIR base URL',
  fhirTokenUrl: 'Token URL',
  fhirClientId: 'SMART client id',
  fhirBatch: 'Batch reads',
  key: 'Private key',
};

/** @param {string} key @param {unknown} v */
function valueText(key, v) {
  if (v === null || v === undefined)
    return key === 'protocolVersion' ? 'live version' : key === 'fhirTokenUrl' ? 'discovered' : 'none';
  if (key === 'nurseSlaSeconds' && typeof v === 'number') return duration(v);
  if (key === 'protocolVersion' && typeof v === 'number') return `v${v}`;
  if (key === 'key' && typeof v === 'object') return `key ${/** @type {any} */ (v).keyId ?? '?'}`;
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  return typeof v === 'string' || typeof v === 'number' ? String(v) : JSON.stringify(v);
}

/** What an audit entry of a clinic change says, in a sentence. @param {any} e @param {Record<string, string>} switchTitles */
function changeText(e, switchTitles) {
  const d = e.detail ?? {};
  const changes = (/** @type {Record<string, { from: unknown, to: unknown }>} */ c) =>
    Object.entries(c ?? {})
      .map(([k, { from, to }]) => {
        if (k === 'kinds') {
          return `protocol kinds: ${(Array.isArray(to) ? to : [])
            .map((/** @type {any} */ x) =>
              [
                x.kind,
                x.enabled === undefined ? null : `automation ${x.enabled ? 'on' : 'off'}`,
                x.protocolId === undefined ? null : `protocol ${x.protocolId ?? 'none'}`,
                x.protocolVersion === undefined
                  ? null
                  : `pinned ${x.protocolVersion === null ? 'live version' : `v${x.protocolVersion}`}`,
                x.sweepCron === undefined ? null : `sweep ${x.sweepCron ?? 'default'}`,
              ]
                .filter(Boolean)
                .join(' '),
            )
            .join('; ')}`;
        }
        const label = FIELD_TEXT[k] ?? switchTitles[k] ?? k;
        return `${label}: ${valueText(k, from)} → ${valueText(k, to)}`;
      })
      .join('; ');
  switch (e.action) {
    case 'clinic.created':
      return `Clinic onboarded (EHR ${d.fhirBaseUrl ?? '?'}, protocol ${d.protocolId ?? '?'})`;
    case 'clinic.settings_changed':
      return `Settings: ${changes(d.changes)}`;
    case 'clinic.ehr_connection_changed':
      return `EHR connection: ${changes(d.changes)}`;
    case 'clinic.webhook_secret_rotated':
      return `Webhook secret rotated; the previous one stays valid until ${fmtDateTime(d.previousValidUntil)}`;
    case 'clinic.connection_checked':
      return `Connection checked: ${d.ok ? 'passed' : `failed (${d.problems ?? '?'} problems)`}`;
    case 'signing_policy.updated':
      return `Signing policy of ${e.protocolId}: ${MODE_TEXT[d.mode] ?? d.mode}${Array.isArray(d.delegates) && d.delegates.length ? ` (${d.delegates.join(', ')})` : ''}, version ${d.version}`;
    case 'protocol.published':
      return `Protocol ${e.protocolId} v${e.protocolVersion} published for this clinic`;
    case 'protocol.rolled_back':
      return `Protocol ${e.protocolId} rolled back to v${e.protocolVersion} for this clinic`;
    case 'value_set.loaded':
      return `Value set ${d.valueSetId} loaded (${d.codeCount} codes)`;
    case 'value_set.removed':
      return `Value set ${d.valueSetId} removed (built-in set back in force)`;
    case 'token.issued':
      return `API token issued for ${d.userId} (${d.role})`;
    case 'token.revoked':
      return `API token of ${d.userId} (${d.role}) revoked`;
    default:
      return e.action;
  }
}

/**
 * Everything the settings page reads, loaded together.
 * @param {string} id
 */
async function loadSettings(id) {
  const [clinic, kinds, protocols] = await Promise.all([
    call(`/v1/clinics/${enc(id)}`),
    call('/v1/kinds'),
    call('/v1/protocols'),
  ]);
  /** @type {Record<string, any>} */
  const versions = {};
  /** @type {Record<string, any>} */
  const policies = {};
  const ids = [...new Set(clinic.kinds.map((/** @type {any} */ k) => k.protocolId).filter(Boolean))];
  await Promise.all([
    ...ids.map(async (p) => {
      versions[/** @type {string} */ (p)] = (await call(`/v1/protocols/${enc(/** @type {string} */ (p))}`)).versions;
    }),
    // Version 0: never set, the `doctor` default (with the server's defaults for the other fields).
    ...signingProtocols(clinic, kinds.items).map(async (p) => {
      policies[p] = await call(`/v1/clinics/${enc(id)}/signing-policy/${enc(p)}`);
    }),
  ]);
  return { clinic, kinds: kinds.items, protocols: protocols.items, policies, versions };
}

/**
 * The protocols the clinic runs whose kind routes approvals to the signature queue: those a signing policy applies to.
 * @param {any} clinic @param {any[]} kinds GET /v1/kinds
 * @returns {string[]}
 */
function signingProtocols(clinic, kinds) {
  const signing = new Set(
    kinds.filter((k) => k.dispositions.some((/** @type {any} */ d) => d.queue === 'signature')).map((k) => k.id),
  );
  return clinic.kinds
    .filter(
      (/** @type {any} */ k) =>
        k.protocolId && signing.has(k.kind) && (k.enabled || k.protocolId === clinic.protocolId),
    )
    .map((/** @type {any} */ k) => k.protocolId);
}

/**
 * @param {HTMLElement} view @param {string} id
 */
async function showSettings(view, id) {
  const data = await loadSettings(id);
  const { clinic } = data;
  document.title = `${clinic.name} · Clinics · Console`;
  const changesBox = h('div', { 'data-testid': 'changes' });
  const reload = async () => {
    const fresh = await loadSettings(id);
    Object.assign(data, fresh);
    render();
  };
  const render = () => {
    const c = data.clinic;
    view.replaceChildren(
      h('a', { class: 'back', href: '#/clinics' }, '← Clinics'),
      h(
        'div',
        { class: 'queue-head' },
        h('h1', { id: 'clinics-title', tabindex: '-1' }, c.name),
        h('p', { class: 'muted' }, `Clinic ${c.id} · ${c.timezone} · updated ${fmtDateTime(c.updatedAt)}`),
      ),
      generalCard(c, reload),
      kindsCard(data, reload),
      signingCard(data, reload),
      connectionCard(c, reload),
      secretCard(c, reload),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'changes-title' },
        h('h2', { id: 'changes-title' }, 'Changes'),
        h('p', { class: 'muted' }, 'Who changed what and when, newest first (from the audit log).'),
        changesBox,
      ),
    );
    void loadChanges(changesBox, c, data.kinds, null);
  };
  render();
  /** @type {HTMLElement} */ (view.querySelector('h1')).focus();
}

/**
 * A page of the clinic's changes into `box`; "Older changes" appends the next page.
 * @param {HTMLElement} box @param {any} clinic @param {any[]} kinds GET /v1/kinds @param {string | null} cursor
 */
async function loadChanges(box, clinic, kinds, cursor) {
  const title = (/** @type {string} */ kind) => kinds.find((k) => k.id === kind)?.title ?? kind;
  /** @type {Record<string, string>} */
  const switchTitles = Object.fromEntries(
    clinic.kinds
      .filter((/** @type {any} */ k) => k.switchField)
      .map((/** @type {any} */ k) => [k.switchField, `Automation (${title(k.kind)})`]),
  );
  try {
    const page = await call(`/v1/clinics/${enc(clinic.id)}/changes?limit=20${cursor ? `&cursor=${enc(cursor)}` : ''}`);
    const rows = page.items.map((/** @type {any} */ e) =>
      h(
        'tr',
        null,
        h('td', null, h('time', { datetime: e.at }, fmtDateTime(e.at))),
        h('td', null, e.actorId, e.actorRole ? h('span', { class: 'muted' }, ` (${e.actorRole})`) : null),
        h('td', null, changeText(e, switchTitles)),
      ),
    );
    /** @type {HTMLElement | null} */
    let tbody = box.querySelector('tbody');
    if (!tbody || cursor === null) {
      if (!page.items.length) {
        box.replaceChildren(h('p', { class: 'empty', 'data-testid': 'changes-empty' }, 'No changes recorded yet.'));
        return;
      }
      tbody = h('tbody', null);
      box.replaceChildren(
        h(
          'table',
          { class: 'audit changes' },
          h('caption', { class: 'visually-hidden' }, 'Changes to this clinic, newest first'),
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              ['When', 'Who', 'What'].map((t) => h('th', { scope: 'col' }, t)),
            ),
          ),
          tbody,
        ),
      );
    }
    tbody.append(...rows);
    box.querySelector('.older')?.remove();
    if (page.nextCursor) {
      box.append(
        h(
          'button',
          { type: 'button', class: 'btn older', onclick: () => void loadChanges(box, clinic, kinds, page.nextCursor) },
          'Older changes',
        ),
      );
    }
  } catch (err) {
    box.replaceChildren(h('p', { class: 'alert alert-error' }, failureText(err, 'the list')));
  }
}

/**
 * A settings card with a form, its message line, and a submit button.
 * @param {string} id @param {string} title @param {string | null} lede @param {HTMLElement} form
 */
function card(id, title, lede, form) {
  return h(
    'section',
    { class: 'card', 'aria-labelledby': `${id}-title`, 'data-testid': id },
    h('h2', { id: `${id}-title` }, title),
    lede ? h('p', { class: 'muted' }, lede) : null,
    form,
  );
}

/** Name, time zone, nurse SLA. @param {any} c @param {() => Promise<void>} reload */
function generalCard(c, reload) {
  const name = input({ name: 'name', value: c.name, required: true });
  const tz = /** @type {HTMLSelectElement} */ (
    h(
      'select',
      { name: 'timezone' },
      [...new Set([c.timezone, ...timeZones()])].map((z) => h('option', { value: z, selected: z === c.timezone }, z)),
    )
  );
  const sla = input({
    name: 'nurseSlaMinutes',
    type: 'number',
    min: 1,
    max: 43200,
    step: 1,
    value: String(Math.round(c.nurseSlaSeconds / 60)),
    inputmode: 'numeric',
  });
  const message = messageLine('general-message');
  const controls = { '$.name': name, '$.timezone': tz, '$.nurseSlaSeconds': sla };
  const form = h(
    'form',
    { class: 'stack', novalidate: true },
    field('st-name', 'Name', name),
    field('st-tz', 'Time zone', tz),
    field(
      'st-sla',
      'Nurse SLA (minutes)',
      sla,
      'How long a case may wait in the nurse queue before it is escalated (1 to 43,200 minutes).',
    ),
    message,
    h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Review and save')),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    /** @type {Record<string, unknown>} */
    const body = {};
    /** @type {string[]} */
    const lines = [];
    if (name.value.trim() !== c.name) {
      body.name = name.value.trim();
      lines.push(`Name: ${c.name} → ${name.value.trim()}`);
    }
    if (tz.value !== c.timezone) {
      body.timezone = tz.value;
      lines.push(`Time zone: ${c.timezone} → ${tz.value}`);
    }
    const minutes = Number(sla.value);
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 43200) {
      showIssues(form, [{ path: '$.nurseSlaSeconds', message: 'Enter whole minutes from 1 to 43,200.' }], controls);
      say(message, 'Fix the marked field.', 'error');
      return;
    }
    if (minutes * 60 !== c.nurseSlaSeconds) {
      body.nurseSlaSeconds = minutes * 60;
      lines.push(`Nurse SLA: ${duration(c.nurseSlaSeconds)} → ${duration(minutes * 60)}`);
    }
    void save(
      form,
      message,
      controls,
      `/v1/clinics/${enc(c.id)}/settings`,
      'PATCH',
      body,
      lines,
      'Change the settings?',
      'the settings',
      reload,
    );
  });
  return card('general', 'General', null, form);
}

/**
 * Confirm, send, and on success reload the page's data; on failure keep the form and say what to do.
 * @param {HTMLElement} form @param {HTMLElement} message @param {Record<string, HTMLElement | undefined>} controls
 * @param {string} path @param {string} method @param {Record<string, unknown>} body @param {string[]} lines
 * @param {string} title @param {string} what @param {() => Promise<void>} reload @param {string} [conflictHint]
 */
async function save(form, message, controls, path, method, body, lines, title, what, reload, conflictHint) {
  if (lines.length === 0) {
    say(message, 'Nothing to save: change a field first.', 'warn');
    return;
  }
  if (!(await confirmChange(title, lines, 'Save'))) return;
  say(message, 'Saving…', 'warn');
  try {
    await call(path, { method, body });
  } catch (err) {
    showFailure(err, form, message, controls, what, conflictHint);
    return;
  }
  await reload();
  const again = document.querySelector(`[data-testid="${form.closest('section')?.dataset.testid}"] .form-message`);
  if (again instanceof HTMLElement) say(again, 'Saved.', 'ok');
}

/** Automation, protocol and pinned version per protocol kind. @param {any} data @param {() => Promise<void>} reload */
function kindsCard(data, reload) {
  const c = data.clinic;
  /** @type {Record<string, string>} */
  const titles = Object.fromEntries(data.kinds.map((/** @type {any} */ k) => [k.id, k.title]));
  /** @type {Record<string, HTMLElement>} */
  const controls = {};
  const message = messageLine('kinds-message');
  /** @type {{ k: any, own: boolean, auto: HTMLInputElement, protocol: HTMLSelectElement | null, version: HTMLSelectElement }[]} */
  const rows = [];
  /** @param {string | null} protocolId @param {number | null} pinned */
  const versionOptions = (protocolId, pinned) => {
    const vs = protocolId ? (data.versions[protocolId] ?? []) : [];
    return [
      h('option', { value: '', selected: pinned === null }, 'Live version (follows publishing)'),
      ...vs
        .filter((/** @type {any} */ v) => v.status !== 'draft')
        .map((/** @type {any} */ v) =>
          h('option', { value: String(v.version), selected: v.version === pinned }, `v${v.version} (${v.status})`),
        ),
    ];
  };
  const tableRows = c.kinds.map((/** @type {any} */ k) => {
    const own = k.protocolId === c.protocolId;
    const on = own ? (k.switchField ? Boolean(c[k.switchField]) : true) : k.enabled;
    const auto = input({ type: 'checkbox', name: `auto-${k.kind}`, checked: on, disabled: own && !k.switchField });
    auto.id = `kd-auto-${k.kind}`;
    const protocol = own
      ? null
      : /** @type {HTMLSelectElement} */ (
          h(
            'select',
            { id: `kd-protocol-${k.kind}`, name: `protocol-${k.kind}` },
            h('option', { value: '', selected: k.protocolId === null }, 'None'),
            data.protocols
              .filter((/** @type {any} */ p) => p.kind === k.kind && p.publishedVersion !== null)
              .map((/** @type {any} */ p) =>
                h('option', { value: p.id, selected: p.id === k.protocolId }, `${p.title} (${p.id})`),
              ),
          )
        );
    const version = /** @type {HTMLSelectElement} */ (
      h(
        'select',
        { id: `kd-version-${k.kind}`, name: `version-${k.kind}` },
        versionOptions(k.protocolId, k.protocolVersion),
      )
    );
    protocol?.addEventListener('change', () => {
      void (async () => {
        const p = protocol.value;
        if (p && !data.versions[p]) {
          try {
            data.versions[p] = (await call(`/v1/protocols/${enc(p)}`)).versions;
          } catch {
            data.versions[p] = [];
          }
        }
        version.replaceChildren(...versionOptions(p || null, null));
      })();
    });
    rows.push({ k, own, auto, protocol, version });
    const title = titles[k.kind] ?? k.kind;
    const errId = (/** @type {HTMLElement} */ el) => {
      el.setAttribute('aria-describedby', `${el.id}-error`);
      return [el, h('p', { class: 'error-text field-error', id: `${el.id}-error` })];
    };
    return h(
      'tr',
      { 'data-kind': k.kind },
      h('th', { scope: 'row' }, title, own ? h('div', { class: 'sub muted' }, 'the clinic’s own protocol') : null),
      h(
        'td',
        null,
        h('label', { class: 'visually-hidden', for: auto.id }, `Automation for ${title}`),
        ...errId(auto),
        own && !k.switchField ? h('span', { class: 'sub muted' }, ' always on') : null,
      ),
      h(
        'td',
        null,
        protocol
          ? [h('label', { class: 'visually-hidden', for: protocol.id }, `Protocol for ${title}`), ...errId(protocol)]
          : h('code', null, k.protocolId),
      ),
      h(
        'td',
        null,
        h('label', { class: 'visually-hidden', for: version.id }, `Pinned version for ${title}`),
        ...errId(version),
      ),
      h('td', null, h('code', null, k.sweepCron)),
    );
  });
  const form = h(
    'form',
    { class: 'stack stack-wide', novalidate: true },
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'kinds-table' },
        h('caption', { class: 'visually-hidden' }, 'Protocol kinds: automation, protocol and pinned version'),
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            ['Protocol kind', 'Automation', 'Protocol', 'Pinned version', 'Sweep (cron)'].map((t) =>
              h('th', { scope: 'col' }, t),
            ),
          ),
        ),
        h('tbody', null, tableRows),
      ),
    ),
    message,
    h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Review and save')),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    /** @type {Record<string, unknown>} */
    const body = {};
    /** @type {Record<string, unknown>[]} */
    const kinds = [];
    /** @type {string[]} */
    const lines = [];
    for (const key of Object.keys(controls)) delete controls[key];
    for (const r of rows) {
      const title = titles[r.k.kind] ?? r.k.kind;
      const pinned = r.version.value === '' ? null : Number(r.version.value);
      const vText = (/** @type {number | null} */ v) => (v === null ? 'live version' : `v${v}`);
      if (r.own) {
        if (r.k.switchField && r.auto.checked !== Boolean(c[r.k.switchField])) {
          body[r.k.switchField] = r.auto.checked;
          controls[`$.${r.k.switchField}`] = r.auto;
          lines.push(`${title}: automation ${r.auto.checked ? 'on' : 'off'}`);
        }
        if (pinned !== r.k.protocolVersion) {
          body.protocolVersion = pinned;
          controls['$.protocolVersion'] = r.version;
          lines.push(`${title}: pinned version ${vText(r.k.protocolVersion)} → ${vText(pinned)}`);
        }
        continue;
      }
      /** @type {Record<string, unknown>} */
      const entry = { kind: r.k.kind };
      const protocolId = r.protocol?.value ? r.protocol.value : null;
      if (r.auto.checked !== r.k.enabled) {
        entry.enabled = r.auto.checked;
        lines.push(`${title}: ${r.auto.checked ? 'switched on' : 'switched off'}`);
      }
      if (protocolId !== r.k.protocolId) {
        entry.protocolId = protocolId;
        lines.push(`${title}: protocol ${r.k.protocolId ?? 'none'} → ${protocolId ?? 'none'}`);
      }
      if (pinned !== r.k.protocolVersion || (protocolId !== r.k.protocolId && pinned !== null)) {
        entry.protocolVersion = pinned;
        lines.push(`${title}: pinned version ${vText(r.k.protocolVersion)} → ${vText(pinned)}`);
      }
      if (Object.keys(entry).length > 1) {
        const i = kinds.length;
        kinds.push(entry);
        controls[`$.kinds[${i}].enabled`] = r.auto;
        controls[`$.kinds[${i}].kind`] = r.auto;
        if (r.protocol) controls[`$.kinds[${i}].protocolId`] = r.protocol;
        controls[`$.kinds[${i}].protocolVersion`] = r.version;
      }
    }
    if (kinds.length) body.kinds = kinds;
    void save(
      form,
      message,
      controls,
      `/v1/clinics/${enc(c.id)}/settings`,
      'PATCH',
      body,
      lines,
      'Change automation and protocols?',
      'the protocol settings',
      reload,
    );
  });
  return card(
    'kinds',
    'Protocols and automation',
    'Per protocol kind: whether its protocol decides on its own (off: every case goes to a person), which protocol, and which published version (pinned) or the live one.',
    form,
  );
}

/**
 * The signing policy of each protocol the clinic runs whose kind routes approvals to the signature queue.
 * @param {any} data @param {() => Promise<void>} reload
 */
function signingCard(data, reload) {
  const protocolIds = signingProtocols(data.clinic, data.kinds);
  if (protocolIds.length === 0) {
    return card(
      'signing',
      'Signing policy',
      null,
      h('p', { class: 'empty' }, 'No protocol of this clinic needs a signature.'),
    );
  }
  return h(
    'div',
    null,
    protocolIds.map((pid) => policyCard(data.clinic, pid, data.policies[pid], reload)),
  );
}

/**
 * @param {any} c @param {string} protocolId @param {any} p the policy in force (version 0: never set, the default)
 * @param {() => Promise<void>} reload
 */
function policyCard(c, protocolId, p, reload) {
  const slug = protocolId.replace(/[^A-Za-z0-9-]/g, '-');
  const modes = Object.keys(MODE_TEXT).map((m) => {
    const r = input({ type: 'radio', name: `sp-mode-${slug}`, value: m, checked: p.mode === m });
    r.id = `sp-mode-${slug}-${m}`;
    return { m, r };
  });
  const delegates = Object.keys(DELEGATE_TEXT).map((d) => {
    const cb = input({ type: 'checkbox', name: `sp-delegate-${slug}`, value: d, checked: p.delegates.includes(d) });
    cb.id = `sp-delegate-${slug}-${d}`;
    return { d, cb };
  });
  const cosign = input({ type: 'number', min: 1, max: 30, step: 1, value: String(p.cosignDays), inputmode: 'numeric' });
  const authority = input({ name: 'authority', value: p.authority?.display ?? '' });
  const reference = input({ name: 'reference', value: p.authority?.reference ?? '', placeholder: 'Practitioner/…' });
  const message = messageLine(`sp-message-${slug}`);
  const modeGroup = h(
    'fieldset',
    { id: `sp-mode-${slug}`, 'aria-describedby': `sp-mode-${slug}-error`, tabindex: '-1' },
    h('legend', null, 'Who signs'),
    modes.map(({ m, r }) => h('div', { class: 'check-row' }, r, h('label', { for: r.id }, MODE_TEXT[m]))),
    h('p', { class: 'error-text field-error', id: `sp-mode-${slug}-error` }),
  );
  const delegateGroup = h(
    'fieldset',
    { id: `sp-delegates-${slug}`, 'aria-describedby': `sp-delegates-${slug}-error`, tabindex: '-1' },
    h('legend', null, 'Delegates (with “Delegates sign”)'),
    delegates.map(({ d, cb }) => h('div', { class: 'check-row' }, cb, h('label', { for: cb.id }, DELEGATE_TEXT[d]))),
    h('p', { class: 'error-text field-error', id: `sp-delegates-${slug}-error` }),
  );
  const controls = {
    '$.mode': modeGroup,
    '$.delegates': delegateGroup,
    '$.cosignDays': cosign,
    '$.authority': authority,
    '$.authority.display': authority,
    '$.authority.reference': reference,
  };
  const form = h(
    'form',
    { class: 'stack', novalidate: true },
    modeGroup,
    delegateGroup,
    field(
      `sp-cosign-${slug}`,
      'Co-sign within (days)',
      cosign,
      'For a standing order: how long a doctor has to co-sign (1 to 30 days).',
    ),
    field(
      `sp-authority-${slug}`,
      'Authorising physician',
      authority,
      'Who authorises the delegation or the standing order (a name, no patient data).',
    ),
    field(`sp-reference-${slug}`, 'Physician reference (optional)', reference),
    h(
      'p',
      { class: 'muted sub' },
      p.version > 0
        ? `Version ${p.version}, set by ${p.updatedBy} on ${fmtDateTime(p.updatedAt)}.`
        : 'Never set: a doctor signs every approval.',
    ),
    message,
    h(
      'div',
      { class: 'form-actions' },
      h('button', { type: 'submit', class: 'btn btn-primary' }, 'Review and save'),
      h('button', { type: 'button', class: 'btn', onclick: () => void reload() }, 'Reload policy'),
    ),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const mode = modes.find((x) => x.r.checked)?.m ?? p.mode;
    const chosen = delegates.filter((x) => x.cb.checked).map((x) => x.d);
    /** @type {Record<string, unknown>} */
    const body = { mode, delegates: chosen, expectedVersion: p.version };
    const days = Number(cosign.value);
    if (cosign.value.trim() !== '') body.cosignDays = Number.isInteger(days) ? days : cosign.value;
    body.authority = authority.value.trim()
      ? { display: authority.value.trim(), reference: reference.value.trim() || null }
      : null;
    const lines = [
      `Who signs: ${MODE_TEXT[p.mode]} → ${MODE_TEXT[mode]}`,
      `Delegates: ${p.delegates.join(', ') || 'none'} → ${chosen.join(', ') || 'none'}`,
      `Authorising physician: ${p.authority?.display ?? 'none'} → ${authority.value.trim() || 'none'}`,
      'Cases already triaged keep the policy they ran under.',
    ];
    void save(
      form,
      message,
      controls,
      `/v1/clinics/${enc(c.id)}/signing-policy/${enc(protocolId)}`,
      'PUT',
      body,
      lines,
      `Change the signing policy of ${protocolId}?`,
      'the signing policy',
      reload,
      'someone changed this policy since you opened the page; press “Reload policy” to see theirs, then make your change again',
    );
  });
  return card(`signing-${slug}`, `Signing policy: ${protocolId}`, null, form);
}

/** The EHR connection, its check, and (global admins) the form to change it. @param {any} c @param {() => Promise<void>} reload */
function connectionCard(c, reload) {
  const box = h('div', { class: 'check-box', 'aria-live': 'polite', 'data-testid': 'settings-check' });
  const rows = /** @type {[string, any][]} */ ([
    ['FHIR base URL', h('code', null, c.fhirBaseUrl)],
    ['SMART client id', c.fhirClientId],
    ['Token URL', c.fhirTokenUrl ?? 'discovered from the EHR'],
    [
      'Private key',
      c.fhirKey.set
        ? `set, encrypted at rest${c.fhirKey.encryptedAtRest ? '' : ' (no: stored before encryption)'}`
        : 'none',
    ],
    ['Key id', c.fhirKey.keyId ?? '—'],
    ['Key thumbprint', c.fhirKey.thumbprint ? h('code', null, c.fhirKey.thumbprint) : '—'],
  ]);
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'connection-title', 'data-testid': 'connection' },
    h('h2', { id: 'connection-title' }, 'EHR connection'),
    h(
      'dl',
      { class: 'details' },
      rows.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]),
    ),
    c.fhirKey.publicJwk
      ? h(
          'details',
          { class: 'advanced' },
          h('summary', null, 'Public key to register with the EHR'),
          h(
            'pre',
            { class: 'jwks', tabindex: '0', 'aria-label': 'Public JWK' },
            JSON.stringify({ keys: [c.fhirKey.publicJwk] }, null, 2),
          ),
        )
      : null,
    h(
      'div',
      { class: 'form-actions' },
      h(
        'button',
        { type: 'button', class: 'btn', 'data-testid': 'run-check', onclick: () => void runCheck(box, c.id) },
        'Check the connection',
      ),
    ),
    box,
    ctx.me.clinicId === null
      ? h(
          'details',
          { class: 'advanced' },
          h('summary', null, 'Change the EHR connection'),
          connectionForm(c, 'st-conn', () => void reload()),
        )
      : h('p', { class: 'muted sub' }, 'Only a global admin can change where the clinic’s EHR connection points.'),
  );
}

/** Webhook-secret rotation: the new secret shown once, the old one valid for the grace period. @param {any} c @param {() => Promise<void>} reload */
function secretCard(c, reload) {
  const grace = /** @type {HTMLSelectElement} */ (
    h(
      'select',
      { name: 'graceSeconds' },
      [
        [0, 'None: the current secret stops at once'],
        [3600, '1 hour'],
        [86400, '24 hours'],
        [3 * 86400, '3 days'],
        [7 * 86400, '7 days'],
      ].map(([s, t]) => h('option', { value: String(s), selected: s === 86400 }, t)),
    )
  );
  const message = messageLine('secret-message');
  const shown = h('div', { 'data-testid': 'new-secret' });
  const form = h(
    'form',
    { class: 'stack', novalidate: true },
    h(
      'p',
      null,
      c.webhookSecret.previousValidUntil
        ? `The previous secret is still accepted until ${fmtDateTime(c.webhookSecret.previousValidUntil)}.`
        : 'Only the current secret is accepted.',
    ),
    field(
      'ws-grace',
      'Keep the current secret working for',
      grace,
      'Time to put the new secret into the EHR’s webhook sender.',
    ),
    message,
    h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn btn-danger' }, 'Rotate the secret')),
    shown,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const graceSeconds = Number(grace.value);
    const until = new Date(Date.now() + graceSeconds * 1000).toISOString();
    void (async () => {
      const ok = await confirmChange(
        `Rotate the webhook secret of ${c.name}?`,
        [
          'A new secret is generated and shown once.',
          graceSeconds === 0
            ? 'The current secret stops working at once: webhooks signed with it are refused.'
            : `The current secret keeps working until about ${fmtDateTime(until)}.`,
          'An earlier secret still in its grace period stops at once.',
        ],
        'Rotate',
      );
      if (!ok) return;
      say(message, 'Rotating…', 'warn');
      try {
        const r = await call(`/v1/clinics/${enc(c.id)}/webhook-secret/rotate`, {
          method: 'POST',
          body: { graceSeconds },
        });
        say(message, '', 'ok');
        shown.replaceChildren(
          h(
            'div',
            { class: 'alert alert-ok secret-once' },
            h('h3', null, 'New webhook secret (shown once)'),
            h(
              'p',
              null,
              `Put it into the EHR’s webhook sender now. The previous secret is accepted until ${fmtDateTime(r.previousValidUntil)}.`,
            ),
            h('label', { for: 'ws-new', class: 'visually-hidden' }, 'New webhook secret'),
            secretBox('ws-new', r.webhookSecret),
            h(
              'button',
              {
                type: 'button',
                class: 'btn',
                'data-testid': 'secret-done',
                onclick: () => {
                  shown.replaceChildren();
                  void reload();
                },
              },
              'I have stored it',
            ),
          ),
        );
        /** @type {HTMLInputElement} */ (shown.querySelector('input')).focus();
      } catch (err) {
        showFailure(err, form, message, { '$.graceSeconds': grace }, 'the rotation');
      }
    })();
  });
  return card('secret', 'Webhook secret', 'Rotate it when it may have leaked, or on a schedule.', form);
}

// ---------------------------------------------------------------------------------------------------------------
// Entry

/**
 * Shows the clinic page the hash names: `#/clinics` (the list), `#/clinics/new` (the wizard), `#/clinics/<id>`.
 * @param {HTMLElement} view @param {string} hash without `#` @param {ClinicsContext} context
 */
export async function showClinics(view, hash, context) {
  ctx = context;
  const rest = hash.replace(/^\/clinics\/?/, '').replace(/\?.*$/, '');
  if (rest !== 'new' && wizard.created) wizard = newWizard(); // leaving the wizard drops what it was shown once
  try {
    if (rest === '') await showList(view);
    else if (rest === 'new') await showWizard(view);
    else await showSettings(view, decodeURIComponent(rest));
  } catch (err) {
    if (err instanceof ClinicsApiError && err.status === 401) return;
    view.replaceChildren(
      h('h1', { id: 'clinics-title', tabindex: '-1' }, 'Clinics'),
      h('p', { class: 'alert alert-error', role: 'alert' }, failureText(err, 'the page')),
      h('a', { href: '#/clinics' }, 'Back to the clinics'),
    );
  }
}
