// @ts-check
// The console's access-monitoring page (issue 10 §3), for a clinic's privacy officer and its admins: the flags with
// their evidence (GET /v1/access/{clinicId}/flags), marking one reviewed with a note (POST …/flag-reviews), and the
// access log with its filters (GET …/log) and CSV export (GET …/log.csv, fetched with the session's token and saved
// from a blob). Every value from the server is put into the page as text. The hash carries the clinic id only: ids of
// people, cases and patients stay in the page.

const MAX_FLAG_DAYS = 31;
const LOG_PAGE = 50;

/**
 * What app.js hands the page: its element builder, its API client and its error texts.
 * @typedef {object} AccessContext
 * @property {(tag: string, attrs?: Record<string, any> | null, ...children: any[]) => HTMLElement} h
 * @property {(path: string, opts?: { method?: string, body?: unknown }) => Promise<any>} api JSON, session's token
 * @property {(path: string) => Promise<Response>} fetchRaw the raw response (the CSV), same token
 * @property {{ userId: string, role: string, clinicId: string | null }} me
 * @property {(err: unknown) => string} errorText
 * @property {(err: unknown) => boolean} handleAuthError
 */

/** @type {Record<string, string>} */
const KIND_TEXT = {
  outside_queues: 'Outside their queues',
  rate: 'Unusual volume',
  after_hours: 'After hours',
  many_viewers: 'Many viewers',
};

/** @type {Record<string, string>} */
const ACTION_TEXT = {
  'case.viewed': 'Viewed a case',
  'case.audit_viewed': 'Read a case’s audit trail',
  'queue.listed': 'Listed a queue',
  'decision.recorded': 'Decided',
  'case.batch_sign': 'Batch-signed',
  'analytics.viewed': 'Analytics (case ids)',
  'access_log.viewed': 'Read the access log',
  'access_log.exported': 'Exported the access log',
  'access_flags.viewed': 'Read the access flags',
  'patient_context.read': 'EHR read: patient context',
  'ehr.event_focus_read': 'EHR read: event resource',
  'ehr.panel_page_read': 'EHR read: panel page',
  'ehr.write_back': 'EHR write-back',
};

const DAY_NAMES = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

/** @param {Date} d */
const isoDate = (d) => d.toISOString().slice(0, 10);

/** The wall-clock parts of an instant in a time zone. @param {number} ms @param {string} timeZone */
function wall(ms, timeZone) {
  const p = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
    })
      .formatToParts(new Date(ms))
      .map((x) => [x.type, x.value]),
  );
  return Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute));
}

/** The instant a local date begins in a time zone, ISO-8601 UTC. @param {string} date @param {string} timeZone */
export function startOfDayIn(date, timeZone) {
  const target = Date.parse(`${date}T00:00:00Z`);
  let t = target - (wall(target, timeZone) - target);
  t = target - (wall(t, timeZone) - t);
  return new Date(t).toISOString();
}

/** Today's date in a time zone. @param {string} timeZone */
function todayIn(timeZone) {
  return new Date(wall(Date.now(), timeZone)).toISOString().slice(0, 10);
}

/** @param {string} date @param {number} n */
const addDays = (date, n) => isoDate(new Date(Date.parse(`${date}T00:00:00Z`) + n * 86_400_000));

/**
 * Shows the page in `root`; the clinic is the token's, or (a global admin) the one in the hash.
 * @param {HTMLElement} root @param {AccessContext} ctx
 */
export async function showAccess(root, ctx) {
  const { h, me } = ctx;
  document.title = 'Access monitoring · Console';
  const hashClinic = new URLSearchParams(location.hash.split('?')[1] ?? '').get('clinicId');
  const clinicId = me.clinicId ?? hashClinic ?? '';
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite', 'data-testid': 'access-status' });
  const head = h(
    'div',
    { class: 'queue-head' },
    h('h1', { id: 'access-title' }, 'Access monitoring'),
    h(
      'p',
      { class: 'muted' },
      'Who looked at which patient’s data, and when. Flags are signals for a person to judge, not verdicts: each ' +
        'shows its evidence and why it was raised.',
    ),
  );
  if (!clinicId) {
    root.replaceChildren(head, clinicPicker(ctx), status);
    return;
  }

  // The clinic's thresholds and time zone: flags are computed in its days, and times are shown in its zone.
  /** @type {any} */
  let settings;
  try {
    settings = await ctx.api(`/v1/access/${encodeURIComponent(clinicId)}/settings`);
  } catch (err) {
    if (ctx.handleAuthError(err)) return;
    root.replaceChildren(head, h('p', { class: 'alert alert-error', role: 'alert' }, ctx.errorText(err)));
    return;
  }
  const tz = settings.timezone;
  const timeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short', timeZone: tz });
  /** @param {string} iso */
  const when = (iso) => timeFmt.format(new Date(iso));
  const base = `/v1/access/${encodeURIComponent(clinicId)}`;
  /** @param {string} text @param {'ok' | 'error' | ''} [kind] */
  const say = (text, kind = '') => {
    status.textContent = text;
    status.className = kind ? `status status-${kind}` : 'status';
  };

  const today = todayIn(tz);
  const flagsCard = flagsSection();
  const logCard = logSection();
  root.replaceChildren(
    head,
    h(
      'p',
      { class: 'muted', 'data-testid': 'access-clinic' },
      `Clinic ${clinicId} · times in ${tz} · thresholds: ${thresholdsText(settings)}`,
    ),
    status,
    flagsCard.el,
    logCard.el,
  );
  await Promise.all([flagsCard.load(), logCard.load()]);

  // -------------------------------------------------------------------------------------------------------------
  // Flags

  function flagsSection() {
    const list = h('div', { class: 'flag-list', 'data-testid': 'flags' });
    const counts = h('p', { class: 'muted', 'data-testid': 'flag-counts' });
    const form = h(
      'form',
      { class: 'filters', novalidate: true, 'aria-label': 'Which flags' },
      h(
        'div',
        null,
        h('label', { for: 'fl-from' }, 'From'),
        h('input', { id: 'fl-from', name: 'from', type: 'date', value: addDays(today, -6), required: true }),
      ),
      h(
        'div',
        null,
        h('label', { for: 'fl-to' }, 'To'),
        h('input', { id: 'fl-to', name: 'to', type: 'date', value: today, required: true }),
      ),
      h(
        'div',
        null,
        h('label', { for: 'fl-status' }, 'Show'),
        h(
          'select',
          { id: 'fl-status', name: 'status' },
          h('option', { value: 'open' }, 'Open'),
          h('option', { value: 'reviewed' }, 'Reviewed'),
          h('option', { value: 'all', selected: true }, 'All'),
        ),
      ),
      h('div', { class: 'filters-actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Show flags')),
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void load();
    });

    async function load() {
      const data = new FormData(/** @type {HTMLFormElement} */ (form));
      const from = field(data, 'from');
      const to = field(data, 'to');
      const days = Math.round((Date.parse(to) - Date.parse(from)) / 86_400_000) + 1;
      if (!(days >= 1 && days <= MAX_FLAG_DAYS)) {
        say(`Pick a range of 1 to ${MAX_FLAG_DAYS} days, "To" on or after "From".`, 'error');
        return;
      }
      const q = new URLSearchParams({ from, to, status: field(data, 'status') || 'all' });
      try {
        const res = await ctx.api(`${base}/flags?${q}`);
        counts.textContent = `${res.counts.open} open, ${res.counts.reviewed} reviewed, ${res.from} to ${res.to}`;
        list.replaceChildren(
          ...(res.items.length
            ? res.items.map((/** @type {any} */ f, /** @type {number} */ i) => flagCard(f, i))
            : [h('p', { class: 'empty', 'data-testid': 'flags-empty' }, 'No flags in this range.')]),
        );
      } catch (err) {
        if (ctx.handleAuthError(err)) return;
        list.replaceChildren();
        say(ctx.errorText(err), 'error');
      }
    }

    /** One flag: why, who, when, the evidence, and its review (or the form to record one). @param {any} f @param {number} i */
    function flagCard(f, i) {
      const id = `flag-${i}`;
      const facts = [
        f.userId ? ['Person', `${f.userId}${f.role ? ` (${f.role})` : ''}`] : null,
        ['When', when(f.at)],
        f.caseId ? ['Case', f.caseId] : null,
        f.patientId ? ['Patient', `Patient/${f.patientId}`] : null,
      ].filter((x) => x !== null);
      const reviewArea = h('div', { class: 'flag-review' });
      const article = h(
        'article',
        { class: 'flag', 'data-flag-id': f.id, 'data-kind': f.kind, 'aria-labelledby': `${id}-title` },
        h(
          'h3',
          { id: `${id}-title`, class: 'flag-title' },
          h('span', { class: `badge flag-kind flag-${f.kind}` }, KIND_TEXT[f.kind] ?? f.kind),
          ' ',
          h('span', { class: 'flag-reason' }, f.reason),
        ),
        h(
          'dl',
          { class: 'flag-facts' },
          facts.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]),
        ),
        evidence(f),
        reviewArea,
      );
      showReview(f, reviewArea, id);
      return article;
    }

    /** The accesses behind a flag, in a disclosure (and the viewers of a much-viewed case). @param {any} f */
    function evidence(f) {
      const e = f.evidence;
      const more = e.total > e.accesses.length ? ` (the first ${e.accesses.length} shown)` : '';
      const extra = [];
      if (e.viewers)
        extra.push(
          `Viewers: ${e.viewers.map((/** @type {any} */ v) => `${v.userId}${v.role ? ` (${v.role})` : ''}`).join(', ')}`,
        );
      if (e.queuesWorked) extra.push(`Queues this role works: ${e.queuesWorked.join(', ') || 'none'}`);
      if (typeof e.threshold === 'number') {
        extra.push(
          `${e.casesInHour} cases in the hour; own median ${e.median ?? 'none'} over ${e.baselineHours} active hours; bar ${e.threshold}`,
        );
      }
      return h(
        'details',
        { class: 'flag-evidence' },
        h('summary', null, `Evidence: ${e.total} access${e.total === 1 ? '' : 'es'}${more}`),
        extra.map((t) => h('p', { class: 'muted' }, t)),
        h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            {
              class: 'analytics-table',
              'aria-label': `Evidence: ${KIND_TEXT[f.kind] ?? f.kind}, ${f.userId ?? f.caseId ?? ''}`,
            },
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                ['When', 'Action', 'Case', 'Patient', 'Queue', 'Audit row'].map((t) => h('th', { scope: 'col' }, t)),
              ),
            ),
            h(
              'tbody',
              null,
              e.accesses.map((/** @type {any} */ a) =>
                h(
                  'tr',
                  null,
                  h('td', null, when(a.at)),
                  h('td', null, ACTION_TEXT[a.action] ?? a.action),
                  h('td', null, a.caseId ?? '—'),
                  h('td', null, a.patientId ? `Patient/${a.patientId}` : '—'),
                  h('td', null, a.queue ?? '—'),
                  h('td', null, String(a.auditId)),
                ),
              ),
            ),
          ),
        ),
      );
    }

    /** The review of a flag, or the form to record one. @param {any} f @param {HTMLElement} area @param {string} id */
    function showReview(f, area, id) {
      const r = f.review;
      if (r) {
        const since = f.evidence.total - r.evidenceTotal;
        area.replaceChildren(
          h(
            'p',
            { class: 'review-done', tabindex: '-1', 'data-testid': 'review' },
            h('strong', null, 'Reviewed'),
            ` by ${r.reviewedBy} (${r.reviewedRole}), ${when(r.reviewedAt)}: `,
            h('q', null, r.note),
            since > 0 ? h('span', { class: 'badge badge-soon' }, ` ${since} more since`) : null,
          ),
        );
        return;
      }
      const note = /** @type {HTMLTextAreaElement} */ (
        h('textarea', {
          id: `${id}-note`,
          name: 'note',
          rows: '2',
          maxlength: '2000',
          required: true,
          'aria-describedby': `${id}-error`,
        })
      );
      const error = h('p', { id: `${id}-error`, class: 'error-text', role: 'alert' });
      const button = /** @type {HTMLButtonElement} */ (
        h('button', { type: 'submit', class: 'btn btn-primary' }, 'Mark reviewed')
      );
      const form = h(
        'form',
        { class: 'review-form', novalidate: true },
        h('label', { for: `${id}-note` }, 'Review note ', h('span', { class: 'muted' }, '(what you found)')),
        note,
        error,
        button,
      );
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        void submit();
      });
      area.replaceChildren(form);

      async function submit() {
        if (!note.value.trim()) {
          error.textContent = 'Write what the review found first.';
          note.focus();
          return;
        }
        error.textContent = '';
        button.disabled = true;
        try {
          const review = await ctx.api(`${base}/flag-reviews`, {
            method: 'POST',
            body: { flagId: f.id, note: note.value.trim() },
          });
          showReview({ ...f, review }, area, id);
          say('Flag marked reviewed.', 'ok');
          /** @type {HTMLElement | null} */ (area.querySelector('.review-done'))?.focus();
        } catch (err) {
          if (ctx.handleAuthError(err)) return;
          error.textContent = ctx.errorText(err);
          button.disabled = false;
          note.focus();
        }
      }
    }

    const el = h(
      'section',
      { class: 'card access-card', 'aria-labelledby': 'flags-title' },
      h('h2', { id: 'flags-title' }, 'Flags'),
      form,
      counts,
      list,
    );
    return { el, load };
  }

  // -------------------------------------------------------------------------------------------------------------
  // The access log

  function logSection() {
    const actions = Object.keys(ACTION_TEXT);
    const form = h(
      'form',
      { class: 'filters', novalidate: true, 'aria-label': 'Which accesses' },
      h(
        'div',
        null,
        h('label', { for: 'lg-from' }, 'From'),
        h('input', { id: 'lg-from', name: 'from', type: 'date', value: addDays(today, -6), required: true }),
      ),
      h(
        'div',
        null,
        h('label', { for: 'lg-to' }, 'To'),
        h('input', { id: 'lg-to', name: 'to', type: 'date', value: today, required: true }),
      ),
      h(
        'div',
        null,
        h('label', { for: 'lg-user' }, 'Person'),
        h('input', { id: 'lg-user', name: 'userId', spellcheck: 'false', autocomplete: 'off' }),
      ),
      h(
        'div',
        null,
        h('label', { for: 'lg-case' }, 'Case'),
        h('input', { id: 'lg-case', name: 'caseId', spellcheck: 'false', autocomplete: 'off' }),
      ),
      h(
        'div',
        null,
        h('label', { for: 'lg-patient' }, 'Patient id'),
        h('input', { id: 'lg-patient', name: 'patientId', spellcheck: 'false', autocomplete: 'off' }),
      ),
      h(
        'div',
        null,
        h('label', { for: 'lg-action' }, 'Action'),
        h(
          'select',
          { id: 'lg-action', name: 'action' },
          h('option', { value: '' }, 'Any'),
          actions.map((a) => h('option', { value: a }, ACTION_TEXT[a] ?? a)),
        ),
      ),
      h(
        'div',
        { class: 'filters-actions' },
        h('button', { type: 'submit', class: 'btn btn-primary' }, 'Show accesses'),
        h(
          'button',
          { type: 'button', class: 'btn', 'data-testid': 'log-csv', onclick: () => void download() },
          'Download CSV',
        ),
      ),
    );
    const body = h('tbody', null);
    const table = h(
      'table',
      { class: 'analytics-table access-log', 'data-testid': 'access-log' },
      h('caption', { class: 'visually-hidden' }, 'Accesses to patient data, newest first'),
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['When', 'Person', 'Role', 'Action', 'Cases and patients', 'Request'].map((t) =>
            h('th', { scope: 'col' }, t),
          ),
        ),
      ),
      body,
    );
    const empty = h('p', { class: 'empty', hidden: true, 'data-testid': 'log-empty' }, 'No accesses match.');
    const newest = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'btn' }, 'Newest'));
    const older = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'btn' }, 'Older'));
    /** @type {string | null} */
    let next = null;
    newest.addEventListener('click', () => void load());
    older.addEventListener('click', () => void load(next));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void load();
    });

    /** The filters as a query string, or a message for ones the server would refuse. */
    function query() {
      const data = new FormData(/** @type {HTMLFormElement} */ (form));
      const s = (/** @type {string} */ k) => field(data, k);
      if (!/^\d{4}-\d{2}-\d{2}$/.test(s('from')) || !/^\d{4}-\d{2}-\d{2}$/.test(s('to'))) {
        return { error: 'Pick both dates.' };
      }
      if (s('to') < s('from')) return { error: '"To" must be on or after "From".' };
      const q = new URLSearchParams({ from: startOfDayIn(s('from'), tz), to: startOfDayIn(addDays(s('to'), 1), tz) });
      for (const k of ['userId', 'caseId', 'patientId', 'action']) if (s(k)) q.set(k, s(k));
      return { q };
    }

    /** @param {string | null} [cursor] */
    async function load(cursor = null) {
      const { q, error } = query();
      if (!q) {
        say(error ?? '', 'error');
        return;
      }
      q.set('limit', String(LOG_PAGE));
      if (cursor) q.set('cursor', cursor);
      try {
        const page = await ctx.api(`${base}/log?${q}`);
        next = page.nextCursor;
        body.replaceChildren(...page.items.map(row));
        empty.hidden = page.items.length > 0;
        table.hidden = page.items.length === 0;
        older.disabled = next === null;
        newest.disabled = cursor === null;
      } catch (err) {
        if (ctx.handleAuthError(err)) return;
        say(ctx.errorText(err), 'error');
      }
    }

    /** @param {any} e */
    function row(e) {
      return h(
        'tr',
        { 'data-audit-id': String(e.id) },
        h('td', null, when(e.at)),
        h('td', null, e.userId),
        h('td', null, e.role ?? '—'),
        h('td', null, ACTION_TEXT[e.action] ?? e.action),
        h('td', null, subjects(e.subjects)),
        h('td', { class: 'request-id' }, e.requestId ?? '—'),
      );
    }

    /** The cases and patients of an access: the first few, the rest behind a disclosure. @param {any[]} list */
    function subjects(list) {
      if (list.length === 0) return '—';
      const item = (/** @type {any} */ s) =>
        h('li', null, [s.caseId, s.patientId ? `Patient/${s.patientId}` : null].filter(Boolean).join(' · '));
      const shown = list.length > 4 ? list.slice(0, 3) : list;
      return [
        h('ul', { class: 'subjects' }, shown.map(item)),
        list.length > shown.length
          ? h(
              'details',
              { class: 'subjects-more' },
              h('summary', null, `${list.length - shown.length} more`),
              h('ul', { class: 'subjects' }, list.slice(shown.length).map(item)),
            )
          : null,
      ];
    }

    /** Fetches the CSV with the session's token and saves it (a plain link would carry no token). */
    async function download() {
      const { q, error } = query();
      if (!q) {
        say(error ?? '', 'error');
        return;
      }
      try {
        const res = await ctx.fetchRaw(`${base}/log.csv?${q}`);
        if (!res.ok) {
          const body = await res.json().catch(() => null);
          throw new Error(body?.error?.message ?? `The CSV was refused (HTTP ${res.status}).`);
        }
        const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? 'access.csv';
        const url = URL.createObjectURL(await res.blob());
        const a = h('a', { href: url, download: name, hidden: true });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10_000);
        say(`Saved ${name}.`, 'ok');
      } catch (err) {
        say(err instanceof Error ? err.message : ctx.errorText(err), 'error');
      }
    }

    const el = h(
      'section',
      { class: 'card access-card', 'aria-labelledby': 'log-title' },
      h('h2', { id: 'log-title' }, 'Access log'),
      h(
        'p',
        { class: 'muted' },
        'Case views, queue lists, decisions, exports and reads of this log by people; the worker’s EHR reads and ' +
          'write-backs. Reading it is itself recorded.',
      ),
      form,
      h('div', { class: 'table-wrap' }, table),
      empty,
      h('div', { class: 'pager' }, newest, older),
    );
    return { el, load };
  }

  /** A global admin names the clinic: a pick list of the clinics. */
  function clinicPicker(/** @type {AccessContext} */ c) {
    const select = h(
      'select',
      { id: 'ac-clinic', name: 'clinicId', required: true },
      h('option', { value: '' }, 'Choose a clinic'),
    );
    void c
      .api('/v1/clinics')
      .then((/** @type {any} */ res) => {
        for (const x of res.items ?? []) select.append(h('option', { value: x.id }, `${x.name} (${x.id})`));
      })
      .catch(() => undefined);
    const form = h(
      'form',
      { class: 'filters', novalidate: true },
      h('div', null, h('label', { for: 'ac-clinic' }, 'Clinic'), select),
      h('div', { class: 'filters-actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Open')),
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const v = /** @type {HTMLSelectElement} */ (select).value;
      if (v) location.hash = `#/access?${new URLSearchParams({ clinicId: v })}`;
    });
    return form;
  }
}

/** A text field of a form, trimmed ('' when absent). @param {FormData} data @param {string} name */
function field(data, name) {
  const v = data.get(name);
  return typeof v === 'string' ? v.trim() : '';
}

/** The thresholds in a sentence. @param {any} s */
function thresholdsText(s) {
  const days = s.workingHours.days.map((/** @type {number} */ d) => DAY_NAMES[d - 1]).join(' ') || 'no day';
  return (
    `working hours ${days} ${s.workingHours.start}–${s.workingHours.end}; more than ${s.rateMultiplier}× a person’s ` +
    `own median per hour (at least ${s.rateFloorPerHour}, over ${s.rateBaselineDays} days); ${s.viewersPerCase} ` +
    'people on one case'
  );
}
