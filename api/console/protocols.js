// @ts-check
// The protocol pages (issue 10 §1), for admins, over the public protocol API (GET /v1/protocols…, POST
// /v1/protocols/validate, PUT …/versions/{v}, GET …/diff, POST …/simulate as a job, GET /v1/simulations/{jobId},
// POST …/publish, POST …/rollback) and GET /v1/clinics:
//   #/protocols                          the library: every protocol, its kind, live version and the clinics on it
//   #/protocols/{id}                     its clinics and versions (author, time, note, content hash)
//   #/protocols/{id}/versions/{version}  the editor of a draft (a published or retired version read-only): the
//                                        kind's structured form beside the raw JSON, validated as you type, the diff
//                                        against the live version, simulation, publish and rollback
// What a kind's form holds comes from its renderer (./kinds/<kind>.js `protocolForm`); this file names no kind.
// Edits live in this tab until saved (kept across page changes and failed calls); nothing is stored in the browser.
import { kindRendererOf } from './kinds/index.js';
import { getAt, parsePath, setAt } from './protocol-form.js';

/** @typedef {import('./protocol-form.js').FormField} FormField */
/** @typedef {import('./protocol-form.js').FormGroup} FormGroup */
/** @typedef {{ path: string, message: string }} Issue */

/**
 * What app.js hands the pages: its element builder, its API client and its error handling.
 * @typedef {object} ProtocolsContext
 * @property {(tag: string, attrs?: Record<string, any> | null, ...children: any[]) => HTMLElement} h
 * @property {(path: string, opts?: { method?: string, body?: unknown }) => Promise<any>} api JSON with the token;
 *   throws an error with `status`, `message`, `requestId` and `issues`
 * @property {{ userId: string, role: string, clinicId: string | null }} me
 * @property {(err: unknown) => boolean} handleAuthError
 */

/** Validation runs this long after the last keystroke. */
const VALIDATE_DEBOUNCE_MS = 400;
/** A simulation job is asked for its progress this often. */
const POLL_MS = 600;
/** Changed cases per page of a simulation's result. */
const CHANGED_PAGE_SIZE = 20;

/**
 * Edits of a version not saved yet, per `id@version`: kept when the admin opens another page, or a call fails.
 * @type {Map<string, { definition: any, revision: number, savedRevision: number }>}
 */
const edits = new Map();
/** The latest simulation per `id@version` (for the publish confirmation). @type {Map<string, Simulation>} */
const simulations = new Map();
/** A message for the next page drawn (after a publish or a rollback moved the admin there). */
let flash = /** @type {{ text: string, kind: 'ok' | 'error' } | null} */ (null);
/** Each page drawn gets a number; a late answer or a poll for an earlier page changes nothing. */
let drawn = 0;
/** Each simulation view gets a number, for unique element ids (the editor's and the rollback dialog's). */
let jobViews = 0;

/**
 * @typedef {object} Simulation
 * @property {string} jobId
 * @property {string} clinicId
 * @property {number} version
 * @property {number} revision the edit the simulation ran on
 * @property {'running' | 'done' | 'failed'} status
 * @property {any} [report]
 * @property {string} [error]
 */

// ---------------------------------------------------------------------------------------------------------------
// Small helpers

/** "2026-06-15 14:05Z". @param {string | null | undefined} iso */
const when = (iso) => (iso ? `${iso.slice(0, 16).replace('T', ' ')}Z` : '—');
/** @param {number | null | undefined} rate a fraction */
const pct = (rate) => (rate === null || rate === undefined ? '—' : `${(rate * 100).toFixed(1)} %`);
/** A JSON value in a line, for a diff cell. @param {unknown} v */
const brief = (v) => {
  if (v === undefined) return '—';
  const s = JSON.stringify(v);
  return s.length > 160 ? `${s.slice(0, 157)}…` : s;
};
/** A DOM id from a JSON path. @param {string} path */
const idOf = (path) => `pf-${path.replace(/[^A-Za-z0-9]+/g, '-')}`;

/** The status of a failed call (0: no answer). @param {unknown} err */
const statusOf = (err) => (err && typeof err === 'object' && 'status' in err ? Number(err.status) : -1);
/** @param {unknown} err @returns {Issue[]} */
const issuesOf = (err) =>
  err && typeof err === 'object' && 'issues' in err && Array.isArray(err.issues) ? err.issues : [];
/** @param {unknown} err */
const messageOf = (err) => {
  const m = err instanceof Error ? err.message : 'unknown error';
  const id = err && typeof err === 'object' && 'requestId' in err ? err.requestId : undefined;
  const ref = typeof id === 'string' && id ? ` (reference ${id})` : '';
  return `${m}${ref}`;
};

/**
 * The note a publish or rollback requires, trimmed; when empty, says so at the field, focuses it and answers null.
 * @param {HTMLTextAreaElement} note
 * @param {HTMLElement} noteError
 * @param {string} missing what to write
 * @returns {string | null}
 */
function requiredNote(note, noteError, missing) {
  const text = note.value.trim();
  if (!text) {
    noteError.textContent = missing;
    note.setAttribute('aria-invalid', 'true');
    note.focus();
    return null;
  }
  noteError.textContent = '';
  note.removeAttribute('aria-invalid');
  return text;
}

/**
 * What to tell the admin when a call failed, saying what to do; `what` is the act ("Not saved").
 * @param {unknown} err @param {string} what
 */
function failure(err, what) {
  switch (statusOf(err)) {
    case 0:
      return `${what}: the server could not be reached. Your edits are kept; check the connection and try again.`;
    case 409:
      return `${what}: ${messageOf(err)}. Your edits are kept here; reload the protocol to see what changed.`;
    case 502:
    case 503:
    case 504:
      return `${what}: the server is not ready (${messageOf(err)}). Your edits are kept; try again in a minute.`;
    case 403:
      return `${what}: not allowed (${messageOf(err)}).`;
    case 404:
      return `${what}: not found (${messageOf(err)}). It may have been removed; go back to the library.`;
    case 400:
    case 422:
      return `${what}: ${messageOf(err)}`;
    default:
      return `${what}: ${messageOf(err)}`;
  }
}

/**
 * The description (or title) of the rule with this id (and clause: ids repeat across categories) in a document: why
 * a criterion or clause flipped.
 * @param {unknown} doc @param {string} id @param {string} [clause]
 */
function ruleText(doc, id, clause) {
  /** @type {unknown[]} */
  const stack = [doc];
  let loose = '';
  while (stack.length) {
    const v = stack.pop();
    if (Array.isArray(v)) stack.push(...[...v].reverse());
    else if (v && typeof v === 'object') {
      const o = /** @type {Record<string, unknown>} */ (v);
      if (o.id === id || o.criterion === id) {
        const text = o.description ?? o.title ?? o.explanation;
        if (typeof text === 'string') {
          if (clause === undefined || o.clause === clause || (o.clause === undefined && o.id === clause)) return text;
          loose ||= text;
        }
      }
      stack.push(...Object.values(o).reverse());
    }
  }
  return loose;
}

/** The clinics that run a protocol, with the version each is pinned to (null: follows the live version). */
function clinicsOn(/** @type {any[]} */ clinics, /** @type {string} */ protocolId) {
  /** @type {{ id: string, name: string, version: number | null }[]} */
  const out = [];
  for (const c of clinics) {
    const kinds = Array.isArray(c.kinds) ? c.kinds : [];
    const k = kinds.find((/** @type {any} */ x) => x.protocolId === protocolId && x.enabled !== false);
    if (k) out.push({ id: c.id, name: c.name, version: k.protocolVersion ?? null });
    else if (c.protocolId === protocolId) out.push({ id: c.id, name: c.name, version: c.protocolVersion ?? null });
  }
  return out;
}

/** A kind's label and form, or the plain ones for a kind this console does not know. @param {string} kind */
function kindOf(kind) {
  const r = kindRendererOf(kind);
  return {
    label: r?.label ?? kind,
    dispositionText: r?.dispositionText ?? {},
    form: r?.protocolForm ?? (() => []),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Entry

/**
 * Shows the protocol page the hash names in `root`.
 * @param {HTMLElement} root @param {ProtocolsContext} ctx
 */
export async function showProtocols(root, ctx) {
  const page = ++drawn;
  const parts = location.hash
    .replace(/^#\/protocols\/?/, '')
    .split('/')
    .filter(Boolean)
    .map(decodeURIComponent);
  const [id, versions, v] = parts;
  try {
    if (id && versions === 'versions' && v && /^\d+$/.test(v)) await showEditor(root, ctx, page, id, Number(v));
    else if (id) await showProtocol(root, ctx, page, id);
    else await showLibrary(root, ctx, page);
  } catch (err) {
    if (ctx.handleAuthError(err) || page !== drawn) return;
    root.replaceChildren(
      ctx.h('h1', { id: 'protocols-title' }, 'Protocols'),
      ctx.h('p', { class: 'alert alert-error', role: 'alert' }, failure(err, 'The page could not be loaded')),
      ctx.h('p', null, ctx.h('a', { href: '#/protocols' }, 'Back to the protocol library')),
    );
  }
}

/** The flash message of the previous act, if any, as an alert. @param {ProtocolsContext['h']} h */
function takeFlash(h) {
  const f = flash;
  flash = null;
  return f
    ? h(
        'p',
        { class: `alert alert-${f.kind}`, role: f.kind === 'error' ? 'alert' : 'status', 'data-testid': 'flash' },
        f.text,
      )
    : '';
}

/** @param {ProtocolsContext['h']} h @param {string[]} heads @param {HTMLElement[]} rows @param {string} testid */
function table(h, heads, rows, testid) {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'proto-table', 'data-testid': testid },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          heads.map((x) => h('th', { scope: 'col' }, x)),
        ),
      ),
      h('tbody', null, rows),
    ),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// The library

/** @param {HTMLElement} root @param {ProtocolsContext} ctx @param {number} page */
async function showLibrary(root, ctx, page) {
  const { h } = ctx;
  document.title = 'Protocols · Console';
  const [list, clinics] = await Promise.all([
    ctx.api('/v1/protocols'),
    ctx.api('/v1/clinics').catch((/** @type {unknown} */ err) => ({ error: err })),
  ]);
  if (page !== drawn) return;
  const items = /** @type {any[]} */ (list.items ?? []);
  const rows = items.map((p) => {
    const on = clinics.error ? null : clinicsOn(clinics.items ?? [], p.id);
    return h(
      'tr',
      { 'data-protocol-id': p.id },
      h(
        'td',
        null,
        h('a', { href: `#/protocols/${encodeURIComponent(p.id)}` }, p.title || p.id),
        h('div', { class: 'sub muted' }, p.id),
      ),
      h('td', null, kindOf(p.kind).label),
      h(
        'td',
        null,
        p.publishedVersion === null
          ? h('span', { class: 'muted' }, 'none published')
          : [
              `v${p.publishedVersion}`,
              p.published
                ? h(
                    'div',
                    { class: 'sub muted' },
                    `${when(p.published.publishedAt)} by ${p.published.publishedBy ?? '—'}`,
                  )
                : null,
            ],
      ),
      h('td', null, `v${p.latestVersion}`),
      h(
        'td',
        null,
        on === null
          ? h('span', { class: 'muted' }, 'Clinics could not be read')
          : on.length === 0
            ? h('span', { class: 'muted' }, 'none')
            : h(
                'ul',
                { class: 'plain' },
                on.map((c) =>
                  h(
                    'li',
                    null,
                    `${c.id}: `,
                    c.version === null ? 'follows the live version' : `pinned to v${c.version}`,
                  ),
                ),
              ),
      ),
    );
  });
  root.replaceChildren(
    h(
      'div',
      { class: 'queue-head' },
      h('h1', { id: 'protocols-title', tabindex: '-1' }, 'Protocols'),
      h('p', { class: 'muted' }, 'Every protocol with its kind, its live version and the clinics that run it.'),
    ),
    takeFlash(h),
    items.length === 0
      ? h(
          'p',
          { class: 'empty', 'data-testid': 'protocols-empty' },
          'No protocols yet. A draft creates one (POST /v1/protocols/{id}/drafts).',
        )
      : table(h, ['Protocol', 'Kind', 'Live version', 'Latest version', 'Clinics'], rows, 'protocol-library'),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// One protocol: clinics and versions

/** @param {HTMLElement} root @param {ProtocolsContext} ctx @param {number} page @param {string} id */
async function showProtocol(root, ctx, page, id) {
  const { h } = ctx;
  const [p, clinics] = await Promise.all([
    ctx.api(`/v1/protocols/${encodeURIComponent(id)}`),
    ctx.api('/v1/clinics').catch(() => ({ items: [] })),
  ]);
  if (page !== drawn) return;
  document.title = `${p.title || p.id} · Protocols · Console`;
  const on = clinicsOn(clinics.items ?? [], id);
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite', 'data-testid': 'protocol-status' });
  const base = `#/protocols/${encodeURIComponent(id)}/versions/`;
  const newDraft = async (/** @type {number} */ from, /** @type {HTMLButtonElement} */ button) => {
    button.disabled = true;
    status.textContent = `Creating a draft from v${from}…`;
    status.className = 'status';
    try {
      const d = await ctx.api(`/v1/protocols/${encodeURIComponent(id)}/drafts`, {
        method: 'POST',
        body: { fromVersion: from },
      });
      location.hash = `${base}${d.version}`;
    } catch (err) {
      if (ctx.handleAuthError(err)) return;
      button.disabled = false;
      status.textContent = failure(err, 'No draft was created');
      status.className = 'status status-error';
    }
  };
  const versions = /** @type {any[]} */ (p.versions ?? []);
  const rows = versions.map((v) => {
    const open = h(
      'a',
      { href: `${base}${v.version}` },
      v.status === 'draft' ? `Edit v${v.version}` : `Open v${v.version}`,
    );
    const from = /** @type {HTMLButtonElement} */ (
      h('button', { type: 'button', class: 'btn btn-small' }, `New draft from v${v.version}`)
    );
    from.addEventListener('click', () => void newDraft(v.version, from));
    return h(
      'tr',
      { 'data-version': v.version },
      h(
        'td',
        null,
        `v${v.version}`,
        v.version === p.publishedVersion ? h('span', { class: 'tag tag-live' }, 'live') : null,
      ),
      h('td', null, v.status),
      h('td', null, v.note ?? h('span', { class: 'muted' }, '—')),
      h('td', null, v.createdBy, h('div', { class: 'sub muted' }, when(v.createdAt))),
      h(
        'td',
        null,
        v.publishedAt ? [v.publishedBy ?? '—', h('div', { class: 'sub muted' }, when(v.publishedAt))] : '—',
      ),
      h('td', null, h('code', { class: 'hash', title: v.contentHash }, v.contentHash.slice(0, 12))),
      h('td', { class: 'row-actions' }, open, ' ', from),
    );
  });
  const rollback = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'btn' }, 'Roll back…'));
  rollback.addEventListener('click', () =>
    openRollback(ctx, root, {
      protocol: p,
      clinics: clinics.items ?? [],
      opener: rollback,
      after: () => void showProtocols(root, ctx),
    }),
  );
  root.replaceChildren(
    h('p', { class: 'crumbs' }, h('a', { href: '#/protocols' }, 'Protocols'), ' › ', p.id),
    h(
      'div',
      { class: 'queue-head' },
      h('h1', { id: 'protocols-title', tabindex: '-1' }, p.title || p.id),
      h(
        'p',
        { class: 'muted' },
        `${kindOf(p.kind).label} · ${p.id} · ${p.publishedVersion === null ? 'no live version' : `live version v${p.publishedVersion}`}`,
      ),
    ),
    takeFlash(h),
    status,
    h('div', { class: 'proto-actions' }, p.publishedVersion !== null ? rollback : null),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'clinics-title' },
      h('h2', { id: 'clinics-title' }, 'Clinics running it'),
      on.length === 0
        ? h('p', { class: 'empty', 'data-testid': 'clinics-empty' }, 'No clinic runs this protocol.')
        : table(
            h,
            ['Clinic', 'Version it runs'],
            on.map((c) =>
              h(
                'tr',
                { 'data-clinic-id': c.id },
                h('td', null, `${c.name} (${c.id})`),
                h(
                  'td',
                  null,
                  c.version === null ? `the live version (v${p.publishedVersion ?? '—'})` : `pinned to v${c.version}`,
                ),
              ),
            ),
            'protocol-clinics',
          ),
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'versions-title' },
      h('h2', { id: 'versions-title' }, 'Versions, newest first'),
      table(
        h,
        ['Version', 'Status', 'Note', 'Author', 'Published', 'Content hash', 'Actions'],
        rows,
        'protocol-versions',
      ),
    ),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// The editor

/**
 * @param {HTMLElement} root @param {ProtocolsContext} ctx @param {number} page @param {string} id @param {number} version
 */
async function showEditor(root, ctx, page, id, version) {
  const { h, me } = ctx;
  const enc = encodeURIComponent(id);
  const [p, ver, clinicsRes] = await Promise.all([
    ctx.api(`/v1/protocols/${enc}`),
    ctx.api(`/v1/protocols/${enc}/versions/${version}`),
    ctx.api('/v1/clinics').catch(() => ({ items: [] })),
  ]);
  if (page !== drawn) return;
  const key = `${id}@${version}`;
  const kind = kindOf(p.kind);
  const isDraft = ver.status === 'draft';
  const clinics = /** @type {any[]} */ (clinicsRes.items ?? []);
  const running = clinicsOn(clinics, id);
  /** Clinics a simulation or a publish may name: those running the protocol first. */
  const clinicChoices = [
    ...running.map((c) => c.id),
    ...clinics.map((c) => c.id).filter((c) => !running.some((r) => r.id === c)),
  ];
  const local = (isDraft && edits.get(key)) || {
    definition: structuredClone(ver.definition),
    revision: 0,
    savedRevision: 0,
  };
  if (isDraft) edits.set(key, local);
  /** @type {Issue[]} */
  let issues = [];
  let parseError = '';
  let validateSeq = 0;
  /** @type {number | undefined} */
  let validateTimer;
  document.title = `${isDraft ? 'Draft' : 'Version'} v${version} · ${p.title || id} · Console`;

  // --- page frame
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite', 'data-testid': 'editor-status' });
  const alert = h('div', { role: 'alert', class: 'editor-alert', 'data-testid': 'editor-alert' });
  const problemsSummary = h('p', {
    class: 'problems-summary',
    role: 'status',
    'aria-live': 'polite',
    'data-testid': 'problems-summary',
  });
  const formBox = h('div', { class: 'proto-form', id: 'proto-form' });
  const raw = /** @type {HTMLTextAreaElement} */ (
    h('textarea', {
      id: 'proto-raw',
      class: 'proto-raw',
      spellcheck: 'false',
      rows: '30',
      readonly: !isDraft,
      'aria-describedby': 'proto-raw-error',
    })
  );
  const rawError = h('p', { class: 'error-text', id: 'proto-raw-error' });
  const problemList = h('ul', { class: 'problem-list', 'data-testid': 'problem-list' });
  const diffBox = h(
    'section',
    { class: 'card', 'aria-labelledby': 'diff-title', id: 'diff-card' },
    h('h2', { id: 'diff-title' }, 'Changes against the live version'),
    h(
      'p',
      { class: 'muted', id: 'diff-body' },
      p.publishedVersion === null
        ? 'No live version to compare with.'
        : 'Press “Compare with live” to list the changes, criterion by criterion.',
    ),
  );
  const simCard = h('section', { class: 'card', 'aria-labelledby': 'sim-title', id: 'sim-card' });

  const btn = (/** @type {string} */ label, /** @type {string} */ cls, /** @type {() => void} */ fn) => {
    const b = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: `btn ${cls}` }, label));
    b.addEventListener('click', fn);
    return b;
  };
  const saveBtn = btn('Save draft', 'btn-primary', () => void save());
  const diffBtn = btn('Compare with live', '', () => void loadDiff());
  const publishBtn = btn('Publish…', '', () => openPublish());
  const rollbackBtn = btn('Roll back…', '', () =>
    openRollback(ctx, root, {
      protocol: p,
      clinics,
      opener: rollbackBtn,
      after: () => void showProtocols(root, ctx),
      preferred: version,
    }),
  );
  const draftFromBtn = btn(
    `New draft from v${version}`,
    '',
    () => void draftFrom(local.definition, draftFromBtn, null),
  );

  const setStatus = (/** @type {string} */ text, /** @type {'info' | 'error'} */ kindOfStatus = 'info') => {
    status.textContent = text;
    status.className = kindOfStatus === 'error' ? 'status status-error' : 'status';
  };
  const setAlert = (/** @type {string} */ text, /** @type {HTMLElement | null} */ extra = null) => {
    alert.replaceChildren(...(text ? [h('p', { class: 'alert alert-error' }, text, extra ? ' ' : null, extra)] : []));
  };
  const dirty = () => local.revision !== local.savedRevision;
  const showDirty = () => {
    if (!isDraft) return;
    setStatus(dirty() ? 'Unsaved changes.' : 'All changes saved.');
  };

  // --- the structured form
  /** @type {Map<string, { field: FormField, input: HTMLInputElement | HTMLTextAreaElement, error: HTMLElement, details: HTMLDetailsElement }>} */
  const fields = new Map();
  /** @type {Map<string, { group: FormGroup, error: HTMLElement, details: HTMLDetailsElement }>} */
  const groups = new Map();

  const valueText = (/** @type {FormField} */ f) => {
    const v = getAt(local.definition, f.path);
    if (v === null || v === undefined) return '';
    if (f.type === 'list') return Array.isArray(v) ? v.join(', ') : String(v);
    return typeof v === 'object' ? JSON.stringify(v) : String(v);
  };
  const parseField = (/** @type {FormField} */ f, /** @type {string} */ text) => {
    if (f.type === 'number') {
      const t = text.trim();
      return t === '' || Number.isNaN(Number(t)) ? null : Number(t);
    }
    if (f.type === 'list') {
      return text
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    }
    return f.nullable && text.trim() === '' ? null : text;
  };

  function buildForm() {
    const open = new Set([...groups].filter(([, g]) => g.details.open).map(([path]) => path));
    fields.clear();
    groups.clear();
    const sections = kind.form(local.definition);
    formBox.replaceChildren(
      ...(sections.length === 0
        ? [h('p', { class: 'muted' }, `This console has no form for protocols of kind ${p.kind}: edit the raw JSON.`)]
        : sections.map((s, si) =>
            h(
              'section',
              { class: 'form-section', 'aria-labelledby': `pf-section-${si}` },
              h('h3', { id: `pf-section-${si}` }, s.title),
              s.groups.map((g) => {
                const details = /** @type {HTMLDetailsElement} */ (
                  h('details', { class: 'form-group', open: open.has(g.path) })
                );
                const groupError = h('ul', { class: 'group-errors', id: `${idOf(g.path)}-group-error` });
                details.append(
                  h('summary', null, g.title, h('span', { class: 'group-count' }, '')),
                  groupError,
                  ...g.fields.map((f) => {
                    const fid = idOf(f.path);
                    const error = h('p', { class: 'field-error', id: `${fid}-error` });
                    const attrs = {
                      id: fid,
                      name: f.path,
                      'data-path': f.path,
                      readonly: !isDraft,
                      'aria-describedby': f.hint ? `${fid}-hint ${fid}-error` : `${fid}-error`,
                      spellcheck: 'false',
                    };
                    const input = /** @type {HTMLInputElement | HTMLTextAreaElement} */ (
                      f.type === 'textarea'
                        ? h('textarea', { ...attrs, rows: '2' })
                        : h('input', {
                            ...attrs,
                            type: f.type === 'number' ? 'number' : 'text',
                            step: f.type === 'number' ? 'any' : undefined,
                          })
                    );
                    input.value = valueText(f);
                    input.addEventListener('input', () => {
                      setAt(local.definition, f.path, parseField(f, input.value));
                      changed('form');
                    });
                    fields.set(f.path, { field: f, input, error, details });
                    return h(
                      'div',
                      { class: 'field' },
                      h('label', { for: fid }, f.tag ? h('span', { class: 'tag' }, f.tag) : null, ' ', f.label),
                      f.hint ? h('span', { class: 'hint muted', id: `${fid}-hint` }, f.hint) : null,
                      input,
                      error,
                    );
                  }),
                );
                groups.set(g.path, { group: g, error: groupError, details });
                return details;
              }),
            ),
          )),
    );
  }

  const rawText = () => JSON.stringify(local.definition, null, 2);

  /** @param {'form' | 'raw'} from */
  function changed(from) {
    local.revision += 1;
    if (from === 'form' && document.activeElement !== raw) raw.value = rawText();
    showDirty();
    clearTimeout(validateTimer);
    validateTimer = window.setTimeout(() => void validate(), VALIDATE_DEBOUNCE_MS);
  }

  raw.addEventListener('input', () => {
    let parsed;
    try {
      parsed = JSON.parse(raw.value);
    } catch (err) {
      parseError = `Not valid JSON: ${err instanceof Error ? err.message : 'parse error'}. The form shows the last valid document.`;
      rawError.textContent = parseError;
      raw.setAttribute('aria-invalid', 'true');
      local.revision += 1;
      showDirty();
      return;
    }
    parseError = '';
    rawError.textContent = '';
    raw.removeAttribute('aria-invalid');
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      parseError = 'The document must be a JSON object.';
      rawError.textContent = parseError;
      raw.setAttribute('aria-invalid', 'true');
      return;
    }
    local.definition = parsed;
    buildForm();
    renderIssues();
    changed('raw');
  });

  /** Shows every problem at its field (or at the item it is about) and in the raw view's list. */
  function renderIssues() {
    for (const f of fields.values()) {
      f.error.textContent = '';
      f.input.removeAttribute('aria-invalid');
    }
    for (const g of groups.values()) {
      g.error.replaceChildren();
      const count = g.details.querySelector('.group-count');
      if (count) count.textContent = '';
    }
    /** @type {Map<HTMLDetailsElement, number>} */
    const perGroup = new Map();
    problemList.replaceChildren();
    for (const issue of issues) {
      const at = fields.get(issue.path);
      /** @type {HTMLElement | null} */
      let target = null;
      if (at) {
        at.error.textContent = at.error.textContent ? `${at.error.textContent} ${issue.message}` : issue.message;
        at.input.setAttribute('aria-invalid', 'true');
        at.details.open = true;
        perGroup.set(at.details, (perGroup.get(at.details) ?? 0) + 1);
        target = at.input;
      } else {
        // The item it is about: the longest group path that is a prefix of the issue's path.
        const keys = parsePath(issue.path);
        let best = /** @type {{ group: FormGroup, error: HTMLElement, details: HTMLDetailsElement } | undefined} */ (
          undefined
        );
        let bestLen = -1;
        for (const g of groups.values()) {
          const gk = parsePath(g.group.path);
          if (gk.length <= keys.length && gk.every((k, i) => k === keys[i]) && gk.length > bestLen) {
            best = g;
            bestLen = gk.length;
          }
        }
        if (best) {
          best.error.append(h('li', { class: 'field-error' }, `${issue.path}: ${issue.message}`));
          best.details.open = true;
          perGroup.set(best.details, (perGroup.get(best.details) ?? 0) + 1);
          target = /** @type {HTMLElement | null} */ (best.details.querySelector('summary'));
        }
      }
      const go = h(
        'button',
        { type: 'button', class: 'link-button' },
        h('code', null, issue.path),
        ` ${issue.message}`,
      );
      go.addEventListener('click', () => {
        if (target) target.focus();
        else {
          raw.focus();
          const needle = `"${String(parsePath(issue.path).at(-1) ?? '')}"`;
          const i = raw.value.indexOf(needle);
          if (i >= 0) raw.setSelectionRange(i, i + needle.length);
        }
      });
      problemList.append(h('li', null, go));
    }
    if (issues.length === 0) problemList.append(h('li', { class: 'muted' }, 'None.'));
    for (const [details, n] of perGroup) {
      const count = details.querySelector('.group-count');
      if (count) count.textContent = ` · ${n} problem${n === 1 ? '' : 's'}`;
    }
    problemsSummary.textContent = parseError
      ? 'The raw JSON does not parse.'
      : issues.length === 0
        ? 'No problems found.'
        : `${issues.length} problem${issues.length === 1 ? '' : 's'}, shown at ${issues.length === 1 ? 'its field' : 'their fields'} and in the raw view.`;
    problemsSummary.className = `problems-summary ${issues.length || parseError ? 'has-problems' : 'no-problems'}`;
  }

  async function validate() {
    if (parseError) return;
    const seq = ++validateSeq;
    try {
      const res = await ctx.api('/v1/protocols/validate', { method: 'POST', body: { definition: local.definition } });
      if (seq !== validateSeq || page !== drawn) return;
      issues = res.issues ?? [];
      renderIssues();
    } catch (err) {
      if (ctx.handleAuthError(err) || seq !== validateSeq || page !== drawn) return;
      issues = issuesOf(err);
      renderIssues();
      if (!issues.length) problemsSummary.textContent = failure(err, 'Not validated');
    }
  }

  /** Saves the draft if it has edits; false when it could not (the reason is shown). */
  async function save() {
    if (!isDraft) return true;
    if (parseError) {
      setAlert('Not saved: the raw JSON does not parse. Fix it first.');
      raw.focus();
      return false;
    }
    if (!dirty()) {
      showDirty();
      return true;
    }
    const revision = local.revision;
    saveBtn.disabled = true;
    setStatus('Saving…');
    try {
      const res = await ctx.api(`/v1/protocols/${enc}/versions/${version}`, {
        method: 'PUT',
        body: { definition: local.definition },
      });
      if (page !== drawn) return false;
      local.savedRevision = revision;
      ver.contentHash = res.contentHash;
      ver.updatedAt = res.updatedAt;
      meta.replaceChildren(...metaLine());
      setAlert('');
      issues = [];
      renderIssues();
      setStatus(dirty() ? 'Saved; newer changes are not saved yet.' : `Saved at ${when(res.updatedAt)}.`);
      return true;
    } catch (err) {
      if (ctx.handleAuthError(err)) return false;
      const s = statusOf(err);
      if (s === 422 || s === 400) {
        issues = issuesOf(err);
        renderIssues();
        setAlert(
          `Not saved: ${issues.length || 'some'} problem${issues.length === 1 ? '' : 's'}, shown at ${issues.length === 1 ? 'its field' : 'their fields'}. Fix and save again.`,
        );
        const first = issues.map((i) => fields.get(i.path)?.input).find(Boolean);
        first?.focus();
      } else if (s === 409) {
        const again = /** @type {HTMLButtonElement} */ (
          h('button', { type: 'button', class: 'btn btn-small' }, 'Save as a new draft')
        );
        again.addEventListener('click', () => void draftFrom(local.definition, again, key));
        setAlert(
          `Not saved: version v${version} is no longer a draft (${messageOf(err)}). Your edits are kept here; save them as a new draft.`,
          again,
        );
      } else {
        setAlert(failure(err, 'Not saved'));
      }
      setStatus('Unsaved changes.', 'error');
      return false;
    } finally {
      saveBtn.disabled = false;
    }
  }

  /** Creates a new draft with this document and opens it (the edits move with it). */
  async function draftFrom(
    /** @type {any} */ definition,
    /** @type {HTMLButtonElement} */ button,
    /** @type {string | null} */ moveFrom,
  ) {
    button.disabled = true;
    try {
      const d = await ctx.api(`/v1/protocols/${enc}/drafts`, { method: 'POST', body: { definition } });
      if (moveFrom) edits.delete(moveFrom);
      flash = { text: `Draft v${d.version} created.`, kind: 'ok' };
      location.hash = `#/protocols/${enc}/versions/${d.version}`;
    } catch (err) {
      if (ctx.handleAuthError(err)) return;
      button.disabled = false;
      const found = issuesOf(err);
      if (found.length) {
        issues = found;
        renderIssues();
      }
      setAlert(failure(err, 'No draft was created'));
    }
  }

  // --- diff
  async function loadDiff() {
    const body = /** @type {HTMLElement} */ (diffBox.querySelector('#diff-body') ?? diffBox);
    if (p.publishedVersion === null) return;
    if (!(await save())) return;
    body.textContent = 'Comparing…';
    try {
      const d = await ctx.api(`/v1/protocols/${enc}/diff?from=${p.publishedVersion}&to=${version}`);
      if (page !== drawn) return;
      const rows = /** @type {any[]} */ (d.changes).flatMap((c) => {
        const item = `${c.kind} ${c.id}${c.category ? ` (in ${c.category})` : ''}`;
        const fieldsChanged = /** @type {any[]} */ (c.fields ?? []);
        if (c.change === 'changed' && fieldsChanged.length) {
          return fieldsChanged.map((f, i) =>
            h(
              'tr',
              { 'data-item': c.id },
              h('td', null, i === 0 ? item : ''),
              h('td', null, i === 0 ? c.change : ''),
              h('td', null, h('code', null, f.path)),
              h('td', null, brief(f.before)),
              h('td', null, brief(f.after)),
            ),
          );
        }
        return [
          h(
            'tr',
            { 'data-item': c.id },
            h('td', null, item),
            h('td', null, c.change),
            h('td', null, '—'),
            h('td', null, brief(c.before)),
            h('td', null, brief(c.after)),
          ),
        ];
      });
      const counts = d.counts ?? { added: 0, removed: 0, changed: 0 };
      body.replaceWith(
        h(
          'div',
          { id: 'diff-body', 'data-testid': 'diff' },
          h(
            'p',
            null,
            `v${d.from} → v${d.to}: ${counts.changed} changed, ${counts.added} added, ${counts.removed} removed.`,
          ),
          rows.length
            ? table(h, ['Item', 'Change', 'Field', `v${d.from}`, `v${d.to}`], rows, 'diff-table')
            : h('p', { class: 'empty' }, 'No differences: this version equals the live one.'),
        ),
      );
    } catch (err) {
      if (ctx.handleAuthError(err)) return;
      body.textContent = failure(err, 'No diff');
    }
  }

  // --- simulate
  const simClinic = /** @type {HTMLSelectElement} */ (
    h(
      'select',
      { id: 'sim-clinic', name: 'clinicId', required: true },
      clinicChoices.map((c) =>
        h('option', { value: c }, running.some((r) => r.id === c) ? c : `${c} (does not run it)`),
      ),
    )
  );
  const simFrom = /** @type {HTMLInputElement} */ (h('input', { id: 'sim-from', name: 'from', type: 'date' }));
  const simTo = /** @type {HTMLInputElement} */ (h('input', { id: 'sim-to', name: 'to', type: 'date' }));
  const simRun = /** @type {HTMLButtonElement} */ (
    h('button', { type: 'submit', class: 'btn btn-primary' }, 'Simulate')
  );
  const simOut = h('div', { id: 'sim-result', 'aria-live': 'polite' });
  const simForm = h(
    'form',
    { class: 'filters', id: 'sim-form', novalidate: true },
    h('div', null, h('label', { for: 'sim-clinic' }, 'Clinic’s recorded cases'), simClinic),
    h('div', null, h('label', { for: 'sim-from' }, 'From (optional)'), simFrom),
    h('div', null, h('label', { for: 'sim-to' }, 'To (optional)'), simTo),
    h('div', { class: 'filters-actions' }, simRun),
  );
  simCard.append(
    h('h2', { id: 'sim-title' }, 'Simulate'),
    h(
      'p',
      { class: 'muted' },
      'What this version would have decided on a clinic’s recorded cases, against what was decided then.',
    ),
    clinicChoices.length ? simForm : h('p', { class: 'empty' }, 'No clinic to simulate on.'),
    simOut,
  );
  simForm.addEventListener('submit', (e) => {
    e.preventDefault();
    void simulate();
  });

  async function simulate() {
    if (!(await save())) return;
    const clinicId = simClinic.value;
    if (!clinicId) return;
    simRun.disabled = true;
    simOut.replaceChildren(h('p', { class: 'muted' }, 'Starting the simulation…'));
    /** @type {Record<string, unknown>} */
    const body = { clinicId, async: true };
    if (simFrom.value) body.from = simFrom.value;
    if (simTo.value) body.to = simTo.value;
    try {
      const { jobId } = await ctx.api(`/v1/protocols/${enc}/versions/${version}/simulate`, { method: 'POST', body });
      /** @type {Simulation} */
      const sim = { jobId, clinicId, version, revision: local.revision, status: 'running' };
      simulations.set(key, sim);
      await followJob(ctx, page, sim, simOut, local.definition, kind.dispositionText);
    } catch (err) {
      if (ctx.handleAuthError(err)) return;
      const found = issuesOf(err);
      simOut.replaceChildren(
        h(
          'p',
          { class: 'alert alert-error', role: 'alert' },
          failure(err, 'The simulation did not start'),
          found.length ? ` (${found.map((i) => `${i.path}: ${i.message}`).join('; ')})` : '',
        ),
      );
    } finally {
      simRun.disabled = false;
    }
  }

  // --- publish
  function openPublish() {
    const sim = simulations.get(key);
    const current = sim && sim.status === 'done' && sim.revision === local.revision && !dirty();
    const global = me.clinicId === null;
    const clinic = /** @type {HTMLSelectElement} */ (
      h(
        'select',
        { id: 'pub-clinic', name: 'clinicId' },
        clinicChoices.map((c) => h('option', { value: c, selected: c === sim?.clinicId }, c)),
      )
    );
    const scopeClinic = /** @type {HTMLInputElement} */ (
      h('input', { type: 'radio', name: 'scope', id: 'pub-scope-clinic', value: 'clinic', checked: true })
    );
    const scopeAll = /** @type {HTMLInputElement} */ (
      h('input', {
        type: 'radio',
        name: 'scope',
        id: 'pub-scope-all',
        value: 'all',
        disabled: !global,
        'aria-describedby': 'pub-scope-all-why',
      })
    );
    const note = /** @type {HTMLTextAreaElement} */ (
      h('textarea', {
        id: 'pub-note',
        rows: '3',
        maxlength: '2000',
        required: true,
        'aria-describedby': 'pub-note-error',
      })
    );
    const noteError = h('p', { class: 'error-text', id: 'pub-note-error' });
    const summary = h('div', { class: 'sim-summary', 'data-testid': 'publish-summary' });
    const confirm = /** @type {HTMLButtonElement} */ (
      h('button', { type: 'submit', class: 'btn btn-primary' }, `Publish v${version}`)
    );
    const error = h('p', { class: 'error-text', role: 'alert', 'data-testid': 'publish-error' });
    const refresh = () => {
      const all = scopeAll.checked;
      clinic.disabled = all;
      if (!current || !sim) {
        summary.replaceChildren(
          h('p', null, 'Not simulated since the last change: run a simulation first, then publish.'),
        );
        confirm.disabled = true;
        return;
      }
      const mismatch = !all && clinic.value !== sim.clinicId;
      summary.replaceChildren(
        ...simSummary(h, sim.report, kind.dispositionText, `Simulated on clinic ${sim.clinicId}`),
      );
      if (mismatch)
        summary.append(
          h(
            'p',
            { class: 'alert alert-warn' },
            `This simulation is for ${sim.clinicId}: simulate on ${clinic.value} before publishing there.`,
          ),
        );
      confirm.disabled = mismatch;
    };
    const dialog = dialogOf(
      h,
      root,
      'publish-dialog',
      `Publish draft v${version}`,
      [
        summary,
        h(
          'fieldset',
          { class: 'scope' },
          h('legend', null, 'For'),
          h('div', { class: 'radio' }, scopeClinic, h('label', { for: 'pub-scope-clinic' }, 'One clinic')),
          h('div', { class: 'field indent' }, h('label', { for: 'pub-clinic' }, 'Clinic'), clinic),
          h(
            'div',
            { class: 'radio' },
            scopeAll,
            h('label', { for: 'pub-scope-all' }, 'Every clinic following the live version'),
          ),
          h(
            'p',
            { class: 'muted hint', id: 'pub-scope-all-why' },
            global ? 'Clinics pinned to a version keep it.' : 'Only a global admin may publish for every clinic.',
          ),
        ),
        h('label', { for: 'pub-note' }, 'Why (required, kept as the version’s note)'),
        note,
        noteError,
        error,
      ],
      confirm,
      publishBtn,
    );
    for (const el of [clinic, scopeClinic, scopeAll]) el.addEventListener('change', refresh);
    refresh();
    dialog.form.addEventListener('submit', (e) => {
      e.preventDefault();
      void (async () => {
        const text = requiredNote(note, noteError, 'Write why this version is published.');
        if (text === null) return;
        confirm.disabled = true;
        error.textContent = 'Publishing…';
        const all = scopeAll.checked;
        try {
          const r = await ctx.api(`/v1/protocols/${enc}/versions/${version}/publish`, {
            method: 'POST',
            body: all ? { note: text } : { clinicId: clinic.value, note: text },
          });
          dialog.close();
          edits.delete(key);
          flash = {
            text: all
              ? `Published v${r.publishedVersion} as the live version (before: v${r.previousVersion ?? '—'}).`
              : `Published v${r.publishedVersion} for clinic ${r.clinicId} (before: ${r.previousVersion === null ? 'the live version' : `v${r.previousVersion}`}). Other clinics are unchanged.`,
            kind: 'ok',
          };
          await showProtocols(root, ctx);
        } catch (err) {
          if (ctx.handleAuthError(err)) return;
          const s = statusOf(err);
          if (s === 422) {
            dialog.close();
            issues = issuesOf(err);
            renderIssues();
            setAlert(failure(err, 'Not published'));
            return;
          }
          error.textContent = `${failure(err, 'Not published')}${s === 409 ? ' Nothing was published.' : ''}`;
          confirm.disabled = false;
        }
      })();
    });
    dialog.open(note);
  }

  // --- draw
  const meta = h('p', { class: 'muted', 'data-testid': 'version-meta' });
  const metaLine = () => [
    `${kind.label} · ${ver.status} · by ${ver.createdBy}, ${when(ver.createdAt)}`,
    ver.note ? ` · note: ${ver.note}` : '',
    ' · ',
    h('code', { class: 'hash', title: ver.contentHash }, `sha256 ${ver.contentHash.slice(0, 12)}`),
  ];
  meta.replaceChildren(...metaLine());
  buildForm();
  raw.value = rawText();
  root.replaceChildren(
    h(
      'p',
      { class: 'crumbs' },
      h('a', { href: '#/protocols' }, 'Protocols'),
      ' › ',
      h('a', { href: `#/protocols/${enc}` }, id),
      ' › ',
      `v${version}`,
    ),
    h(
      'div',
      { class: 'queue-head' },
      h(
        'h1',
        { id: 'protocols-title', tabindex: '-1' },
        `${isDraft ? 'Draft' : 'Version'} v${version} of ${p.title || id}`,
      ),
    ),
    meta,
    takeFlash(h),
    h(
      'div',
      { class: 'proto-actions' },
      isDraft
        ? [saveBtn, diffBtn, publishBtn]
        : [diffBtn, draftFromBtn, p.publishedVersion !== null ? rollbackBtn : null],
    ),
    status,
    alert,
    isDraft
      ? problemsSummary
      : h(
          'p',
          { class: 'muted' },
          'Published and retired versions never change: start a new draft from this one to edit it.',
        ),
    h(
      'div',
      { class: 'editor-grid' },
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'form-title' },
        h('h2', { id: 'form-title' }, 'Structured form'),
        formBox,
      ),
      h(
        'section',
        { class: 'card raw-card', 'aria-labelledby': 'raw-title' },
        h('h2', { id: 'raw-title' }, 'Raw JSON'),
        h('label', { for: 'proto-raw' }, 'The whole protocol document'),
        raw,
        rawError,
        isDraft ? [h('h3', { id: 'problems-title' }, 'Problems'), problemList] : null,
      ),
    ),
    diffBox,
    simCard,
  );
  if (isDraft) {
    showDirty();
    renderIssues();
    void validate();
  }
  // The last simulation of this version, drawn again (or followed on, if it is still running).
  const last = simulations.get(key);
  if (last && last.status !== 'failed') {
    simClinic.value = last.clinicId;
    void followJob(ctx, page, last, simOut, local.definition, kind.dispositionText);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Simulation results

/**
 * Before/after counts per disposition and the automation rate.
 * @param {ProtocolsContext['h']} h @param {any} report @param {Record<string, string>} dispositionText @param {string} caption
 */
function simSummary(h, report, dispositionText, caption) {
  const before = report.before ?? { counts: {}, automationRate: null };
  const after = report.after ?? { counts: {}, automationRate: null };
  const names = [...new Set([...Object.keys(before.counts), ...Object.keys(after.counts)])];
  const sign = (/** @type {number} */ n) => (n > 0 ? `+${n}` : String(n));
  return [
    h(
      'p',
      { 'data-testid': 'sim-headline' },
      `${caption}: ${report.evaluated} recorded case${report.evaluated === 1 ? '' : 's'}${report.skipped ? ` (${report.skipped} skipped: recorded under an older schema)` : ''}; `,
      h('strong', null, `automation rate ${pct(before.automationRate)} → ${pct(after.automationRate)}`),
      `; ${report.changedTotal} case${report.changedTotal === 1 ? '' : 's'} change disposition.`,
    ),
    report.evaluated === 0
      ? h('p', { class: 'empty' }, 'No recorded cases for this clinic and range.')
      : h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'proto-table', 'data-testid': 'sim-counts' },
            h('caption', { class: 'visually-hidden' }, 'Cases per disposition, before and after'),
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                ['Disposition', 'Decided then', 'This version', 'Change'].map((x) => h('th', { scope: 'col' }, x)),
              ),
            ),
            h(
              'tbody',
              null,
              names.map((d) => {
                const b = before.counts[d] ?? 0;
                const a = after.counts[d] ?? 0;
                return h(
                  'tr',
                  { 'data-disposition': d },
                  h('th', { scope: 'row' }, dispositionText[d] ?? d),
                  h('td', null, String(b)),
                  h('td', null, String(a)),
                  h('td', null, sign(a - b)),
                );
              }),
              h(
                'tr',
                { 'data-disposition': 'automation-rate' },
                h('th', { scope: 'row' }, 'Automation rate'),
                h('td', null, pct(before.automationRate)),
                h('td', null, pct(after.automationRate)),
                h('td', null, ''),
              ),
            ),
          ),
        ),
  ];
}

/** @param {boolean | null} v */
const verdict = (v) => (v === null ? 'not evaluated' : v ? 'met' : 'not met');

/**
 * One page of changed cases, each with the criteria that flipped and why (the rule's text in the simulated document).
 * @param {ProtocolsContext['h']} h @param {any[]} changed @param {any} definition @param {Record<string, string>} dispositionText
 */
function changedList(h, changed, definition, dispositionText) {
  const d = (/** @type {string} */ x) => dispositionText[x] ?? x;
  return h(
    'ol',
    { class: 'changed-cases', 'data-testid': 'changed-cases' },
    changed.map((c) =>
      h(
        'li',
        { 'data-case-id': c.caseId },
        h(
          'div',
          null,
          h('strong', null, c.caseId),
          ' ',
          h('span', { class: 'muted' }, `recorded ${when(c.recordedAt)}`),
        ),
        h('div', null, `${d(c.before.disposition)} (v${c.before.protocolVersion}) → ${d(c.after.disposition)}`),
        c.before.clause !== undefined && c.before.clause !== c.after.clause
          ? h('div', null, `Deciding clause ${c.before.clause ?? '—'} → ${c.after.clause ?? '—'}`)
          : null,
        c.criteria.length
          ? h(
              'ul',
              { class: 'flipped' },
              c.criteria.map((/** @type {any} */ k) => {
                const why = ruleText(definition, k.id, k.clause);
                return h(
                  'li',
                  { 'data-criterion': k.id },
                  h('code', null, k.id),
                  ` (${k.clause}): ${verdict(k.before)} → ${verdict(k.after)}`,
                  why ? h('span', { class: 'why' }, ` — ${why}`) : null,
                );
              }),
            )
          : h('p', { class: 'muted' }, 'No criterion changed its verdict; the outcome rules did.'),
      ),
    ),
  );
}

/**
 * Polls a simulation job, drawing its progress, then its summary and its changed cases a page at a time.
 * @param {ProtocolsContext} ctx @param {number} page @param {Simulation} sim @param {HTMLElement} out
 * @param {any} definition @param {Record<string, string>} dispositionText
 */
async function followJob(ctx, page, sim, out, definition, dispositionText) {
  const { h } = ctx;
  const n = ++jobViews;
  const progress = /** @type {HTMLProgressElement} */ (
    h('progress', { id: `sim-progress-${n}`, 'aria-labelledby': `sim-progress-label-${n}` })
  );
  const label = h('span', { id: `sim-progress-label-${n}` }, 'Counting the recorded cases…');
  const progressBox = h('div', { class: 'sim-progress', 'data-testid': 'sim-progress' }, label, ' ', progress);
  if (sim.status !== 'done') out.replaceChildren(progressBox);
  /** Cursors of the pages seen: cursors[i] opens page i. */
  const cursors = [0];
  let at = 0;
  const url = (/** @type {number} */ cursor) =>
    `/v1/simulations/${encodeURIComponent(sim.jobId)}?pageSize=${CHANGED_PAGE_SIZE}&cursor=${cursor}`;
  try {
    let job = await ctx.api(url(0));
    while (job.status === 'running') {
      if (page !== drawn) return;
      const { done, total } = job.progress;
      if (total === null) {
        progress.removeAttribute('value');
        label.textContent = `Counting the recorded cases… (${done} read)`;
      } else {
        progress.max = Math.max(1, total);
        progress.value = done;
        label.textContent = `${done.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} cases (${total ? Math.floor((100 * done) / total) : 100} %)`;
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
      job = await ctx.api(url(0));
    }
    if (page !== drawn) return;
    if (job.status === 'failed') {
      sim.status = 'failed';
      sim.error = job.error?.message ?? 'failed';
      out.replaceChildren(
        h(
          'p',
          { class: 'alert alert-error', role: 'alert' },
          `The simulation failed: ${sim.error}. Your edits are kept; run it again.`,
        ),
      );
      return;
    }
    sim.status = 'done';
    sim.report = job.report;
    const list = h('div', { class: 'changed-page' });
    const prev = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'btn' }, 'Previous cases'));
    const next = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'btn' }, 'Next cases'));
    const pageLabel = h('span', { class: 'muted', 'data-testid': 'changed-page-label' });
    const pages = Math.max(1, Math.ceil(job.report.changedTotal / CHANGED_PAGE_SIZE));
    const show = (/** @type {any} */ j) => {
      list.replaceChildren(
        j.report.changed.length
          ? changedList(h, j.report.changed, definition, dispositionText)
          : h('p', { class: 'empty' }, 'No case changes its disposition.'),
      );
      prev.disabled = at === 0;
      next.disabled = j.page?.next === null || j.page?.next === undefined;
      pageLabel.textContent = `Page ${at + 1} of ${pages}${j.page && j.page.stored < j.report.changedTotal ? ` (the first ${j.page.stored} changed cases are kept for paging)` : ''}`;
      if (j.page?.next !== null && j.page?.next !== undefined) cursors[at + 1] = j.page.next;
    };
    const go = async (/** @type {number} */ to) => {
      prev.disabled = true;
      next.disabled = true;
      try {
        const j = await ctx.api(url(cursors[to] ?? 0));
        at = to;
        show(j);
        list.querySelector('li')?.setAttribute('tabindex', '-1');
        /** @type {HTMLElement | null} */ (list.querySelector('li'))?.focus();
      } catch (err) {
        if (!ctx.handleAuthError(err))
          list.replaceChildren(
            h('p', { class: 'alert alert-error', role: 'alert' }, failure(err, 'The page of cases could not be read')),
          );
      }
    };
    prev.addEventListener('click', () => void go(at - 1));
    next.addEventListener('click', () => void go(at + 1));
    out.replaceChildren(
      ...simSummary(h, job.report, dispositionText, `Simulated on clinic ${sim.clinicId}`),
      h('h3', null, 'Cases whose disposition changes'),
      list,
      job.report.changedTotal > CHANGED_PAGE_SIZE ? h('div', { class: 'pager' }, prev, pageLabel, next) : '',
    );
    show(job);
  } catch (err) {
    if (ctx.handleAuthError(err) || page !== drawn) return;
    sim.status = 'failed';
    out.replaceChildren(
      h(
        'p',
        { class: 'alert alert-error', role: 'alert' },
        failure(err, 'The simulation’s progress could not be read'),
      ),
    );
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Dialogs: publish (above) and rollback

/**
 * A modal dialog in the page: title, body, Cancel and the confirm button; focus returns to `opener` when it closes.
 * @param {ProtocolsContext['h']} h @param {HTMLElement} root @param {string} id @param {string} title
 * @param {any[]} body @param {HTMLButtonElement} confirm @param {HTMLElement} opener
 */
function dialogOf(h, root, id, title, body, confirm, opener) {
  root.querySelector(`#${id}`)?.remove();
  const cancel = h('button', { type: 'button', class: 'btn' }, 'Cancel');
  const form = /** @type {HTMLFormElement} */ (
    h(
      'form',
      { method: 'dialog', novalidate: true },
      h('h2', { id: `${id}-title` }, title),
      ...body,
      h('div', { class: 'dialog-actions' }, cancel, confirm),
    )
  );
  const dialog = /** @type {HTMLDialogElement} */ (
    h('dialog', { id, 'aria-labelledby': `${id}-title`, class: 'proto-dialog' }, form)
  );
  root.append(dialog);
  cancel.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (opener.isConnected) opener.focus();
  });
  return {
    form,
    close: () => dialog.close(),
    open: (/** @type {HTMLElement} */ focus) => {
      dialog.showModal();
      focus.focus();
    },
  };
}

/**
 * The rollback dialog: which earlier version, for one clinic or every clinic, why; its confirmation shows what that
 * version would do to the chosen clinic's recorded cases (a simulation job, started when the dialog opens).
 * @param {ProtocolsContext} ctx @param {HTMLElement} root
 * @param {{ protocol: any, clinics: any[], opener: HTMLElement, after: () => void, preferred?: number }} o
 */
function openRollback(ctx, root, o) {
  const { h, me } = ctx;
  const p = o.protocol;
  const enc = encodeURIComponent(p.id);
  const running = clinicsOn(o.clinics, p.id);
  const clinicIds = [
    ...running.map((c) => c.id),
    ...o.clinics.map((c) => c.id).filter((c) => !running.some((r) => r.id === c)),
  ];
  const targets = /** @type {any[]} */ (p.versions ?? []).filter((v) => v.status !== 'draft');
  const global = me.clinicId === null;
  const clinic = /** @type {HTMLSelectElement} */ (
    h(
      'select',
      { id: 'rb-clinic' },
      clinicIds.map((c) => h('option', { value: c }, c)),
    )
  );
  const target = /** @type {HTMLSelectElement} */ (h('select', { id: 'rb-version' }));
  const scopeClinic = /** @type {HTMLInputElement} */ (
    h('input', { type: 'radio', name: 'rb-scope', id: 'rb-scope-clinic', value: 'clinic', checked: true })
  );
  const scopeAll = /** @type {HTMLInputElement} */ (
    h('input', {
      type: 'radio',
      name: 'rb-scope',
      id: 'rb-scope-all',
      value: 'all',
      disabled: !global,
      'aria-describedby': 'rb-scope-all-why',
    })
  );
  const note = /** @type {HTMLTextAreaElement} */ (
    h('textarea', { id: 'rb-note', rows: '3', maxlength: '1900', required: true, 'aria-describedby': 'rb-note-error' })
  );
  const noteError = h('p', { class: 'error-text', id: 'rb-note-error' });
  const summary = h('div', { class: 'sim-summary', 'aria-live': 'polite', 'data-testid': 'rollback-summary' });
  const error = h('p', { class: 'error-text', role: 'alert', 'data-testid': 'rollback-error' });
  const confirm = /** @type {HTMLButtonElement} */ (
    h('button', { type: 'submit', class: 'btn btn-primary' }, 'Roll back')
  );
  /** The version the scope runs now. */
  const currentOf = () => {
    if (scopeAll.checked) return p.publishedVersion;
    return running.find((c) => c.id === clinic.value)?.version ?? p.publishedVersion;
  };
  const fillTargets = () => {
    const now = currentOf();
    const keep = target.value;
    const choices = targets.filter((v) => v.version !== now);
    const preferred = o.preferred !== undefined && o.preferred !== now ? o.preferred : null;
    const dflt =
      keep && choices.some((v) => String(v.version) === keep)
        ? Number(keep)
        : (preferred ?? (p.publishedVersion !== now ? p.publishedVersion : choices[0]?.version));
    target.replaceChildren(
      ...choices.map((v) =>
        h(
          'option',
          { value: v.version, selected: v.version === dflt },
          `v${v.version} (${v.status}${v.note ? `: ${v.note}` : ''})`,
        ),
      ),
    );
  };
  /** @type {Simulation | null} */
  let sim = null;
  const page = drawn;
  const simulateTarget = async () => {
    const version = Number(target.value);
    const clinicId = clinic.value;
    if (!version || !clinicId) {
      summary.replaceChildren(h('p', null, 'Nothing to roll back to.'));
      confirm.disabled = true;
      return;
    }
    confirm.disabled = true;
    summary.replaceChildren(h('p', { class: 'muted' }, `Simulating v${version} on ${clinicId}…`));
    try {
      const { jobId } = await ctx.api(`/v1/protocols/${enc}/versions/${version}/simulate`, {
        method: 'POST',
        body: { clinicId, async: true },
      });
      /** @type {Simulation} */
      const mine = { jobId, clinicId, version, revision: 0, status: 'running' };
      sim = mine;
      const versionDoc = await ctx.api(`/v1/protocols/${enc}/versions/${version}`);
      await followJob(ctx, page, mine, summary, versionDoc.definition, kindOf(p.kind).dispositionText);
      if (sim === mine && mine.status === 'done') confirm.disabled = false;
    } catch (err) {
      if (ctx.handleAuthError(err)) return;
      summary.replaceChildren(
        h('p', { class: 'alert alert-error' }, failure(err, 'The rollback could not be simulated')),
      );
    }
  };
  const dialog = dialogOf(
    h,
    root,
    'rollback-dialog',
    `Roll back ${p.title || p.id}`,
    [
      h('p', { class: 'muted' }, 'A rollback publishes an earlier version’s content again, as a new version.'),
      h(
        'fieldset',
        { class: 'scope' },
        h('legend', null, 'For'),
        h('div', { class: 'radio' }, scopeClinic, h('label', { for: 'rb-scope-clinic' }, 'One clinic')),
        h(
          'div',
          { class: 'radio' },
          scopeAll,
          h('label', { for: 'rb-scope-all' }, 'Every clinic following the live version'),
        ),
        h(
          'p',
          { class: 'muted hint', id: 'rb-scope-all-why' },
          global ? 'Clinics pinned to a version keep it.' : 'Only a global admin may roll back for every clinic.',
        ),
      ),
      h('div', { class: 'field' }, h('label', { for: 'rb-clinic' }, 'Clinic (rolled back, and simulated on)'), clinic),
      h('div', { class: 'field' }, h('label', { for: 'rb-version' }, 'Roll back to'), target),
      summary,
      h('label', { for: 'rb-note' }, 'Why (required, kept in the new version’s note)'),
      note,
      noteError,
      error,
    ],
    confirm,
    o.opener,
  );
  fillTargets();
  for (const el of [clinic, scopeClinic, scopeAll]) {
    el.addEventListener('change', () => {
      fillTargets();
      void simulateTarget();
    });
  }
  target.addEventListener('change', () => void simulateTarget());
  dialog.form.addEventListener('submit', (e) => {
    e.preventDefault();
    void (async () => {
      const text = requiredNote(note, noteError, 'Write why you roll back.');
      if (text === null) return;
      confirm.disabled = true;
      error.textContent = 'Rolling back…';
      const all = scopeAll.checked;
      try {
        const r = await ctx.api(`/v1/protocols/${enc}/rollback`, {
          method: 'POST',
          body: all
            ? { toVersion: Number(target.value), note: text }
            : { toVersion: Number(target.value), clinicId: clinic.value, note: text },
        });
        dialog.close();
        flash = {
          text: `Rolled back: v${target.value}’s content is now v${r.publishedVersion}${all ? ', the live version' : ` for clinic ${r.clinicId}`}.`,
          kind: 'ok',
        };
        const to = `#/protocols/${enc}`;
        if (location.hash === to) o.after();
        else location.hash = to; // the router draws the protocol's page
      } catch (err) {
        if (ctx.handleAuthError(err)) return;
        error.textContent = `${failure(err, 'Not rolled back')}${statusOf(err) === 409 ? ' Nothing changed.' : ''}`;
        confirm.disabled = false;
      }
    })();
  });
  dialog.open(clinicIds.length ? clinic : note);
  void simulateTarget();
}
