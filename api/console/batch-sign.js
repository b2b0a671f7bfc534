// @ts-check
// Batch signing of the signature queue: a checkbox per row, "Sign selected" and "Sign all shown", a confirm step that
// lists the count and the medications, per-case results, and an Undo button for each signed case while its undo
// window runs (POST /v1/queues/signature/batch-sign, POST /v1/cases/{caseId}/undo-signature). The server re-checks every case
// at sign time; this module only shows what it answers. app.js calls `decorate` after each render of a queue.

/** What each refusal means to the signer (the server's codes, workflows/refill-batch-sign-messages.ts). */
/** @type {Record<string, string>} */
const REFUSAL_TEXT = {
  changed: 'changed since you saw it: look at it again',
  record_changed: 'the order or the request changed in the EHR',
  controlled_substance: 'controlled substance: sign it on its own',
  failed_criterion: 'a criterion did not pass: review it on its own',
  not_evaluated: 'the protocol did not evaluate it: review it on its own',
  opened_by_other: 'someone else opened it in the last minute',
  not_awaiting_signature: 'no longer waiting for a signature',
  forbidden: 'you may not sign it',
  not_found: 'not found',
  unavailable: 'not confirmed: try again',
};

/**
 * @typedef {object} BatchContext
 * @property {(path: string, opts?: { method?: string, body?: unknown }) => Promise<any>} api
 * @property {(tag: string, attrs?: Record<string, any> | null, ...children: any[]) => HTMLElement} h
 * @property {() => { userId: string, role: string } | null} me
 * @property {() => { queues: { queue: string, roles: string[] }[] } | null} lifecycle
 * @property {(err: unknown) => string} errorText
 * @property {() => string} newId a fresh idempotency key
 * @property {() => void} reload re-reads the queue
 */

/** @param {BatchContext} ctx */
export function batchSigning(ctx) {
  const { h } = ctx;
  /** Selected case ids of the queue shown. @type {Set<string>} */
  const selected = new Set();
  /** The cases shown, by id (their version as shown, their medication). @type {Map<string, any>} */
  let shown = new Map();
  /** Signed cases whose undo window runs: case id → activation time (ms). @type {Map<string, number>} */
  const held = new Map();
  /** The last batch's answers, for the results panel. @type {{ caseId: string, drug: string, result: string, reason: string | null, activatesAt: string | null, undone?: boolean, undoError?: string }[]} */
  let results = [];
  /** A batch the server did not confirm: retried with the same key. @type {{ key: string, ids: string[] } | null} */
  let unconfirmed = null;
  /** @type {number | undefined} */
  let ticker;

  const drugOf = (/** @type {any} */ c) => c?.drugName ?? 'Medication not identified yet';

  /** Whether the viewer may sign in the signature queue (the lifecycle's table; the server decides anyway). */
  function maySign() {
    const me = ctx.me();
    const rule = ctx.lifecycle()?.queues.find((q) => q.queue === 'signature');
    return !!me && !!rule && rule.roles.includes(me.role);
  }

  function remove() {
    document.getElementById('batch-bar')?.remove();
    document.getElementById('batch-results')?.remove();
    document.getElementById('batch-head')?.remove();
    for (const td of document.querySelectorAll('td.batch-cell')) td.remove();
  }

  /** @param {string} queue @param {any[]} items */
  function decorate(queue, items) {
    if (queue !== 'signature' || !maySign()) {
      remove();
      return;
    }
    shown = new Map(items.map((c) => [c.caseId, c]));
    for (const id of [...selected]) if (!shown.has(id)) selected.delete(id);
    const now = Date.now();
    for (const [id, until] of held) if (until <= now) held.delete(id);

    const headRow = document.querySelector('#queue-table thead tr');
    if (headRow && !document.getElementById('batch-head')) {
      const all = h('input', {
        type: 'checkbox',
        id: 'batch-all',
        'aria-label': 'Select all shown',
        onchange: (/** @type {Event} */ e) => {
          const on = /** @type {HTMLInputElement} */ (e.target).checked;
          for (const id of shown.keys()) if (on && !held.has(id)) selected.add(id);
          if (!on) selected.clear();
          syncChecks();
        },
      });
      headRow.prepend(h('th', { scope: 'col', id: 'batch-head', class: 'batch-cell-head' }, all));
    }
    for (const tr of document.querySelectorAll('#queue-body tr')) {
      const id = tr.getAttribute('data-case-id');
      if (!id || tr.querySelector('td.batch-cell')) continue;
      const c = shown.get(id);
      const box = h('input', {
        type: 'checkbox',
        class: 'batch-check',
        'data-case-id': id,
        'aria-label': `Select ${drugOf(c)}`,
        onchange: (/** @type {Event} */ e) => {
          if (/** @type {HTMLInputElement} */ (e.target).checked) selected.add(id);
          else selected.delete(id);
          syncChecks();
        },
      });
      // A click on the checkbox must not open the case (the row's own click does).
      tr.prepend(h('td', { class: 'batch-cell', onclick: (/** @type {Event} */ e) => e.stopPropagation() }, box));
    }
    if (!document.getElementById('batch-bar')) {
      const bar = h(
        'div',
        { id: 'batch-bar', class: 'batch-bar', role: 'group', 'aria-label': 'Batch signing' },
        h('button', {
          type: 'button',
          class: 'btn btn-primary',
          id: 'batch-sign-selected',
          onclick: () => ask([...selected]),
        }),
        h('button', {
          type: 'button',
          class: 'btn',
          id: 'batch-sign-all',
          onclick: () => ask([...shown.keys()].filter((id) => !held.has(id))),
        }),
      );
      document.querySelector('#queue-view .table-wrap')?.before(bar);
    }
    syncChecks();
    renderResults();
  }

  function syncChecks() {
    for (const el of document.querySelectorAll('input.batch-check')) {
      const box = /** @type {HTMLInputElement} */ (el);
      const id = box.getAttribute('data-case-id') ?? '';
      box.checked = selected.has(id);
      box.disabled = held.has(id);
    }
    const signable = [...shown.keys()].filter((id) => !held.has(id));
    const all = /** @type {HTMLInputElement | null} */ (document.getElementById('batch-all'));
    if (all) all.checked = signable.length > 0 && signable.every((id) => selected.has(id));
    const sel = /** @type {HTMLButtonElement | null} */ (document.getElementById('batch-sign-selected'));
    const every = /** @type {HTMLButtonElement | null} */ (document.getElementById('batch-sign-all'));
    if (sel) {
      sel.textContent = `Sign selected (${selected.size})`;
      sel.disabled = selected.size === 0;
    }
    if (every) {
      every.textContent = `Sign all shown (${signable.length})`;
      every.disabled = signable.length === 0;
    }
  }

  /** The confirm step: the count and every medication, then one request for the batch. @param {string[]} ids */
  function ask(ids) {
    if (ids.length === 0) return;
    const reuse = unconfirmed && unconfirmed.ids.join() === ids.join() ? unconfirmed : null;
    const key = reuse ? reuse.key : ctx.newId();
    let dialog = /** @type {HTMLDialogElement | null} */ (document.getElementById('batch-confirm'));
    dialog?.remove();
    const error = h('p', { class: 'error-text', role: 'alert', id: 'batch-confirm-error' });
    const ok = h(
      'button',
      { type: 'submit', class: 'btn btn-primary', id: 'batch-confirm-ok' },
      reuse ? `Retry: sign ${ids.length}` : `Sign ${ids.length} order${ids.length === 1 ? '' : 's'}`,
    );
    const form = h(
      'form',
      { method: 'dialog' },
      h('h2', { id: 'batch-confirm-title' }, `Sign ${ids.length} case${ids.length === 1 ? '' : 's'}?`),
      h(
        'p',
        { id: 'batch-confirm-desc' },
        'Each case is checked again as it is signed; any that changed, or that must be signed on its own, is ' +
          'refused and stays in the queue. The orders go out after a short window in which you can undo.',
      ),
      h(
        'ul',
        { class: 'batch-list', id: 'batch-confirm-list' },
        ids.map((id) => h('li', null, drugOf(shown.get(id)))),
      ),
      error,
      h(
        'div',
        { class: 'dialog-actions' },
        h('button', { type: 'button', class: 'btn', onclick: () => dialog?.close() }, 'Cancel'),
        ok,
      ),
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void send(ids, key, /** @type {HTMLButtonElement} */ (ok), error, /** @type {HTMLDialogElement} */ (dialog));
    });
    dialog = /** @type {HTMLDialogElement} */ (
      h(
        'dialog',
        { id: 'batch-confirm', 'aria-labelledby': 'batch-confirm-title', 'aria-describedby': 'batch-confirm-desc' },
        form,
      )
    );
    document.body.append(dialog);
    dialog.showModal();
    ok.focus();
  }

  /**
   * @param {string[]} ids @param {string} key @param {HTMLButtonElement} ok @param {HTMLElement} error
   * @param {HTMLDialogElement} dialog
   */
  async function send(ids, key, ok, error, dialog) {
    ok.disabled = true;
    error.textContent = 'Signing…';
    const items = ids.map((id) => ({ caseId: id, shownVersion: shown.get(id)?.version ?? 0 }));
    const drugs = new Map(ids.map((id) => [id, drugOf(shown.get(id))]));
    try {
      const res = await ctx.api('/v1/queues/signature/batch-sign', {
        method: 'POST',
        body: { items, idempotencyKey: key },
      });
      unconfirmed = null;
      dialog.close();
      selected.clear();
      results = res.items.map((/** @type {any} */ i) => ({ ...i, drug: drugs.get(i.caseId) ?? i.caseId }));
      for (const r of results) {
        if (r.result === 'signed' && r.activatesAt) held.set(r.caseId, new Date(r.activatesAt).getTime());
      }
      startTicker();
      syncChecks();
      renderResults();
      document.getElementById('batch-results')?.focus();
      ctx.reload();
    } catch (err) {
      const status = /** @type {any} */ (err)?.status ?? 0;
      if (status === 0 || status >= 502) unconfirmed = { key, ids };
      ok.disabled = false;
      ok.textContent = unconfirmed ? 'Retry' : ok.textContent;
      error.textContent = ctx.errorText(err);
    }
  }

  /** @param {string} caseId */
  async function undo(caseId) {
    const r = results.find((x) => x.caseId === caseId);
    if (!r) return;
    try {
      await ctx.api(`/v1/cases/${encodeURIComponent(caseId)}/undo-signature`, {
        method: 'POST',
        body: { undoId: ctx.newId().replace(/[^A-Za-z0-9_-]/g, '') },
      });
      r.undone = true;
      held.delete(caseId);
    } catch (err) {
      r.undoError = ctx.errorText(err);
    }
    syncChecks();
    renderResults();
    ctx.reload();
  }

  function startTicker() {
    if (ticker !== undefined) return;
    ticker = window.setInterval(() => {
      const now = Date.now();
      for (const [id, until] of held) if (until <= now) held.delete(id);
      renderResults();
      syncChecks();
      if (held.size === 0) {
        window.clearInterval(ticker);
        ticker = undefined;
      }
    }, 1000);
  }

  function renderResults() {
    const wrap = document.querySelector('#queue-view .table-wrap');
    if (!wrap || results.length === 0) {
      document.getElementById('batch-results')?.remove();
      return;
    }
    let box = document.getElementById('batch-results');
    if (!box) {
      box = h('section', { id: 'batch-results', class: 'card batch-results', tabindex: '-1', 'aria-live': 'polite' });
      wrap.before(box);
    }
    const signed = results.filter((r) => r.result === 'signed' && !r.undone).length;
    const now = Date.now();
    box.replaceChildren(
      h('h2', null, `Batch: ${signed} signed, ${results.length - signed} not signed`),
      h(
        'ul',
        { class: 'plain batch-list' },
        results.map((r) => {
          const until = held.get(r.caseId);
          const text =
            r.result === 'refused'
              ? `Not signed: ${REFUSAL_TEXT[r.reason ?? ''] ?? r.reason}`
              : r.undone
                ? 'Undone: back in the queue, nothing sent'
                : until
                  ? `Signed: goes out in ${Math.max(0, Math.ceil((until - now) / 1000))} s`
                  : 'Signed: sent to the EHR';
          return h(
            'li',
            { class: `batch-item batch-${r.undone ? 'undone' : r.result}`, 'data-case-id': r.caseId },
            h('strong', null, r.drug),
            ' — ',
            h('span', { class: 'batch-outcome' }, text),
            until && !r.undone
              ? [
                  ' ',
                  h('button', { type: 'button', class: 'btn btn-quiet', onclick: () => void undo(r.caseId) }, 'Undo'),
                ]
              : null,
            r.undoError ? h('span', { class: 'error-text' }, ` ${r.undoError}`) : null,
          );
        }),
      ),
    );
  }

  return { decorate };
}
