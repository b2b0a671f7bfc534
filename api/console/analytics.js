// @ts-check
// The console's outcome-analytics page (issue 9 §5), for admins: GET /v1/analytics drawn as tables and hand-built SVG
// charts (no chart library, nothing downloaded), and the same report as CSV (GET /v1/analytics.csv, fetched with the
// session's token and saved from a blob). Every number is the server's (README "Outcome analytics" defines them);
// the page only sums counts across rows and never re-derives a definition. Roles, queues, dispositions and protocol
// versions are whatever the report holds, so a role or queue added later shows up without a change here.

const SVG_NS = 'http://www.w3.org/2000/svg';
/** The reduction in physician touches the seed clinic's figure promises (issue 9): the chart's reference line. */
export const TARGET_REDUCTION_PCT = 70;
const MAX_DAYS = 366;

/**
 * What app.js hands the page: its element builder, its API client and its error texts.
 * @typedef {object} AnalyticsContext
 * @property {(tag: string, attrs?: Record<string, any> | null, ...children: any[]) => HTMLElement} h
 * @property {(path: string) => Promise<any>} api JSON from the API with the session's token
 * @property {(path: string) => Promise<Response>} fetchRaw the raw response (the CSV), same token
 * @property {{ userId: string, role: string, clinicId: string | null }} me
 * @property {(err: unknown) => string} errorText
 * @property {(err: unknown) => boolean} handleAuthError
 */

/** @typedef {{ clinicId: string, from: string, to: string, protocolId: string, granularity: 'day' | 'week' }} Filters */

/** @param {Date} d */
const isoDate = (d) => d.toISOString().slice(0, 10);

/** The filters in the page's hash (`#/analytics?from=…`), with defaults: the last 30 days, by day. @param {string} hash */
export function filtersFromHash(hash, /** @type {string | null} */ ownClinic) {
  const q = new URLSearchParams(hash.split('?')[1] ?? '');
  const today = new Date();
  const from = new Date(today.getTime() - 29 * 86_400_000);
  const granularity = q.get('granularity') === 'week' ? 'week' : 'day';
  return /** @type {Filters} */ ({
    clinicId: ownClinic ?? q.get('clinicId') ?? '',
    from: q.get('from') ?? isoDate(from),
    to: q.get('to') ?? isoDate(today),
    protocolId: q.get('protocolId') ?? '',
    granularity,
  });
}

/** The query string of a report request (also the page's hash). @param {Filters} f */
function queryOf(f) {
  const q = new URLSearchParams({ from: f.from, to: f.to, granularity: f.granularity });
  if (f.clinicId) q.set('clinicId', f.clinicId);
  if (f.protocolId) q.set('protocolId', f.protocolId);
  return q.toString();
}

/** @param {number | null | undefined} rate a fraction */
const pct = (rate) => (rate === null || rate === undefined ? '—' : `${(rate * 100).toFixed(1)} %`);
/** @param {number | null | undefined} v */
const num = (v) => (v === null || v === undefined ? '—' : String(v));

/** "45 s", "12 min", "3.5 h", "2.1 d" @param {number} s */
export function duration(s) {
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

/** @param {string} tag @param {Record<string, string | number>} attrs @param {...(Node | string)} children */
function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

/**
 * Per bucket, the counts summed over the report's series rows (kinds and protocol versions), and the rates from them.
 * @param {any} report
 */
export function perBucket(report) {
  /** @typedef {{ bucket: string, requests: number, touches: number, automated: number, dispositions: Record<string, number> }} BucketSum */
  /** @type {Map<string, BucketSum>} */
  const out = new Map();
  for (const r of report.series) {
    /** @type {BucketSum} */
    const b = out.get(r.bucket) ?? { bucket: r.bucket, requests: 0, touches: 0, automated: 0, dispositions: {} };
    b.requests += r.requests;
    b.touches += r.physicianTouches.total;
    b.automated += r.automated;
    for (const [d, n] of Object.entries(/** @type {Record<string, number>} */ (r.dispositions))) {
      b.dispositions[d] = (b.dispositions[d] ?? 0) + n;
    }
    out.set(r.bucket, b);
  }
  return [...out.values()]
    .sort((a, b) => a.bucket.localeCompare(b.bucket))
    .map((b) => ({
      ...b,
      per100: b.requests === 0 ? null : (100 * b.touches) / b.requests,
      reductionPct: b.requests === 0 ? null : 100 - (100 * b.touches) / b.requests,
    }));
}

/**
 * Per protocol version (kind, protocol id, version), the counts summed over the buckets.
 * @param {any} report
 */
export function perVersion(report) {
  /** @type {Map<string, any>} */
  const out = new Map();
  for (const r of report.series) {
    const key = JSON.stringify([r.kind, r.protocolId, r.protocolVersion]);
    const v = out.get(key) ?? {
      kind: r.kind,
      protocolId: r.protocolId,
      protocolVersion: r.protocolVersion,
      requests: 0,
      automated: 0,
      touches: 0,
      escalations: 0,
      slaMet: 0,
      slaBreached: 0,
      overrides: 0,
    };
    v.requests += r.requests;
    v.automated += r.automated;
    v.touches += r.physicianTouches.total;
    v.escalations += r.escalations.total;
    v.slaMet += r.sla.met;
    v.slaBreached += r.sla.breached;
    v.overrides += r.overrides;
    out.set(key, v);
  }
  return [...out.values()];
}

const PALETTE = ['#0b5cad', '#1e7b3c', '#8a5a00', '#b3261e', '#6b3fa0', '#00707a', '#5b6675', '#c2185b'];

/**
 * Bars of the reduction in physician touches per bucket (100 − touches per 100 requests), with the target line.
 * @param {ReturnType<typeof perBucket>} buckets
 */
function reductionChart(buckets) {
  const W = 760;
  const H = 220;
  const pad = { l: 44, r: 12, t: 12, b: 28 };
  const iw = W - pad.l - pad.r;
  const ih = H - pad.t - pad.b;
  // The axis runs from the lowest value (below 0 when physicians touch more than every request) up to 100 %.
  const values = buckets.map((b) => b.reductionPct).filter((v) => v !== null);
  const lo = Math.min(0, ...values.map((v) => Math.floor(v / 10) * 10));
  const y = (/** @type {number} */ v) => pad.t + ih - ((v - lo) / (100 - lo)) * ih;
  const bw = iw / Math.max(1, buckets.length);
  const chart = svg('svg', {
    viewBox: `0 0 ${W} ${H}`,
    class: 'chart',
    role: 'img',
    'aria-labelledby': 'chart-reduction-title',
    'data-testid': 'chart-reduction',
  });
  for (const tick of [lo, (lo + 100) / 2, 100].map(Math.round)) {
    chart.append(
      svg('line', { x1: pad.l, x2: W - pad.r, y1: y(tick), y2: y(tick), class: 'grid' }),
      svg('text', { x: pad.l - 6, y: y(tick) + 4, 'text-anchor': 'end', class: 'tick' }, `${tick} %`),
    );
  }
  buckets.forEach((b, i) => {
    if (b.reductionPct === null) return;
    const v = b.reductionPct;
    const top = y(Math.max(0, v));
    const bar = svg('rect', {
      x: pad.l + i * bw + bw * 0.1,
      y: top,
      width: Math.max(1, bw * 0.8),
      height: Math.max(0.5, Math.abs(y(v) - y(0))),
      class: v >= TARGET_REDUCTION_PCT ? 'bar bar-met' : 'bar',
      'data-bucket': b.bucket,
    });
    if (v < 0) bar.setAttribute('y', String(y(0)));
    bar.append(
      svg('title', {}, `${b.bucket}: ${v.toFixed(1)} % fewer touches (${b.touches} touches, ${b.requests} requests)`),
    );
    chart.append(bar);
  });
  const ty = y(TARGET_REDUCTION_PCT);
  chart.append(
    svg('line', { x1: pad.l, x2: W - pad.r, y1: ty, y2: ty, class: 'target', 'data-testid': 'target-line' }),
    svg(
      'text',
      { x: W - pad.r, y: ty - 4, 'text-anchor': 'end', class: 'target-label' },
      `target ${TARGET_REDUCTION_PCT} %`,
    ),
  );
  const every = Math.max(1, Math.ceil(buckets.length / 8));
  buckets.forEach((b, i) => {
    if (i % every !== 0) return;
    chart.append(
      svg('text', { x: pad.l + i * bw + bw / 2, y: H - 8, 'text-anchor': 'middle', class: 'tick' }, b.bucket.slice(5)),
    );
  });
  return chart;
}

/**
 * Stacked bars of requests per bucket by disposition, with a legend.
 * @param {ReturnType<typeof perBucket>} buckets @param {string[]} dispositions
 */
function requestsChart(buckets, dispositions) {
  const W = 760;
  const H = 200;
  const pad = { l: 44, r: 12, t: 12, b: 28 };
  const iw = W - pad.l - pad.r;
  const ih = H - pad.t - pad.b;
  const max = Math.max(1, ...buckets.map((b) => b.requests));
  const y = (/** @type {number} */ v) => pad.t + ih - (v / max) * ih;
  const bw = iw / Math.max(1, buckets.length);
  const chart = svg('svg', {
    viewBox: `0 0 ${W} ${H}`,
    class: 'chart',
    role: 'img',
    'aria-labelledby': 'chart-requests-title',
    'data-testid': 'chart-requests',
  });
  for (const tick of [0, Math.round(max / 2), max]) {
    chart.append(
      svg('line', { x1: pad.l, x2: W - pad.r, y1: y(tick), y2: y(tick), class: 'grid' }),
      svg('text', { x: pad.l - 6, y: y(tick) + 4, 'text-anchor': 'end', class: 'tick' }, String(tick)),
    );
  }
  buckets.forEach((b, i) => {
    let base = 0;
    dispositions.forEach((d, k) => {
      const n = b.dispositions[d] ?? 0;
      if (n === 0) return;
      const rect = svg('rect', {
        x: pad.l + i * bw + bw * 0.1,
        y: y(base + n),
        width: Math.max(1, bw * 0.8),
        height: y(base) - y(base + n),
        fill: PALETTE[k % PALETTE.length] ?? '#5b6675',
      });
      rect.append(svg('title', {}, `${b.bucket}: ${n} ${d}`));
      chart.append(rect);
      base += n;
    });
  });
  const every = Math.max(1, Math.ceil(buckets.length / 8));
  buckets.forEach((b, i) => {
    if (i % every !== 0) return;
    chart.append(
      svg('text', { x: pad.l + i * bw + bw / 2, y: H - 8, 'text-anchor': 'middle', class: 'tick' }, b.bucket.slice(5)),
    );
  });
  return chart;
}

/**
 * A plain table; cells are text. `testid` marks the table, rows carry `data-key`.
 * @param {AnalyticsContext['h']} h @param {string} testid @param {string[]} head
 * @param {{ key: string, cells: (string | number)[] }[]} rows @param {string} empty
 */
function table(h, testid, head, rows, empty) {
  if (rows.length === 0) return h('p', { class: 'muted', 'data-testid': `${testid}-empty` }, empty);
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'analytics-table', 'data-testid': testid },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          head.map((t) => h('th', { scope: 'col' }, t)),
        ),
      ),
      h(
        'tbody',
        null,
        rows.map((r) =>
          h(
            'tr',
            { 'data-key': r.key },
            r.cells.map((c) => h('td', null, String(c))),
          ),
        ),
      ),
    ),
  );
}

/**
 * A headline number. @param {AnalyticsContext['h']} h @param {string} id @param {string} label
 * @param {string} value @param {string} [sub]
 */
function metric(h, id, label, value, sub) {
  return h(
    'div',
    { class: 'metric' },
    h('div', { class: 'metric-label' }, label),
    h('div', { class: 'metric-value', 'data-testid': `metric-${id}` }, value),
    sub ? h('div', { class: 'metric-sub muted' }, sub) : null,
  );
}

/** @param {AnalyticsContext['h']} h @param {string} id @param {string} title @param {...any} body */
function card(h, id, title, ...body) {
  return h('section', { class: 'card', 'aria-labelledby': `${id}-title` }, h('h2', { id: `${id}-title` }, title), body);
}

/**
 * The report, drawn. @param {AnalyticsContext['h']} h @param {any} report
 */
export function renderReport(h, report) {
  const t = report.totals;
  const buckets = perBucket(report);
  const dispositions = Object.keys(t.dispositions).sort();
  const roles = report.touchesByRole;
  const reduction = t.physicianTouches.reductionPct;
  const onTarget = reduction !== null && reduction >= TARGET_REDUCTION_PCT;
  return h(
    'div',
    { class: 'analytics-report', 'data-testid': 'analytics-report' },
    h(
      'div',
      { class: 'metrics' },
      metric(h, 'requests', 'Requests', String(t.requests), `${t.open} open · ${t.closed} closed`),
      metric(h, 'automation-rate', 'Automation rate', pct(t.automationRate), `${t.automated} needed no triage`),
      metric(
        h,
        'touches-per-100',
        'Physician touches per 100 requests',
        num(t.physicianTouches.per100),
        `${t.physicianTouches.acted} decided · ${t.physicianTouches.awaiting} still waiting`,
      ),
      metric(
        h,
        'reduction',
        'Fewer physician touches',
        reduction === null ? '—' : `${reduction} %`,
        `than every request to a physician; target ${TARGET_REDUCTION_PCT} % (${onTarget ? 'met' : 'not met'})`,
      ),
      metric(
        h,
        'sla-compliance',
        'SLA compliance',
        pct(t.sla.compliance),
        `${t.sla.met} met · ${t.sla.breached} breached · ${t.sla.pending} pending`,
      ),
      metric(h, 'escalations', 'Escalations', String(t.escalations.total)),
      metric(h, 'overrides', 'Overrides', String(t.overrides), 'clinician decisions against the protocol'),
    ),
    card(
      h,
      'chart-reduction',
      `Fewer physician touches, per ${report.granularity}`,
      reductionChart(buckets),
      h(
        'p',
        { class: 'muted' },
        `Each bar is 100 minus the physician touches per 100 requests of that ${report.granularity}; the dashed line is the ${TARGET_REDUCTION_PCT} % target. Touches: decisions by ${report.definitions.physicianRoles.join(', ')}, plus open cases only they may decide (${report.definitions.physicianOnlyQueues.join(', ')}).`,
      ),
    ),
    card(
      h,
      'chart-requests',
      `Requests per ${report.granularity}, by disposition`,
      requestsChart(buckets, dispositions),
      h(
        'ul',
        { class: 'legend' },
        dispositions.map((d, k) =>
          h('li', null, h('span', { class: `swatch swatch-${k % PALETTE.length}`, 'aria-hidden': 'true' }), d),
        ),
      ),
    ),
    card(
      h,
      'by-bucket',
      `Per ${report.granularity}`,
      table(
        h,
        'by-bucket',
        [
          report.granularity === 'week' ? 'Week of' : 'Day',
          'Requests',
          'Automated',
          'Physician touches',
          'Per 100',
          'Reduction',
        ],
        buckets.map((b) => ({
          key: b.bucket,
          cells: [
            b.bucket,
            b.requests,
            b.automated,
            b.touches,
            b.per100 === null ? '—' : b.per100.toFixed(2),
            b.reductionPct === null ? '—' : `${b.reductionPct.toFixed(2)} %`,
          ],
        })),
        'No requests in this range.',
      ),
    ),
    card(
      h,
      'by-version',
      'Per protocol version',
      table(
        h,
        'by-version',
        [
          'Kind',
          'Protocol',
          'Requests',
          'Automation rate',
          'Touches per 100',
          'Escalations',
          'SLA met / breached',
          'Overrides',
        ],
        perVersion(report).map((v) => ({
          key: `${v.kind}:${v.protocolId ?? ''}:${v.protocolVersion ?? ''}`,
          cells: [
            v.kind,
            v.protocolId === null ? 'none (not triaged by a protocol)' : `${v.protocolId} v${v.protocolVersion}`,
            v.requests,
            pct(v.requests === 0 ? null : v.automated / v.requests),
            v.requests === 0 ? '—' : ((100 * v.touches) / v.requests).toFixed(2),
            v.escalations,
            `${v.slaMet} / ${v.slaBreached}`,
            v.overrides,
          ],
        })),
        'No requests in this range.',
      ),
    ),
    h(
      'div',
      { class: 'analytics-grid' },
      card(
        h,
        'dispositions',
        'Dispositions',
        table(
          h,
          'dispositions',
          ['Disposition', 'Cases'],
          dispositions.map((d) => ({ key: d, cells: [d, t.dispositions[d] ?? 0] })),
          'None.',
        ),
      ),
      card(
        h,
        'roles',
        'Touches by role',
        table(
          h,
          'roles',
          ['Role', 'Cases decided', 'Decisions'],
          roles.map((/** @type {any} */ r) => ({ key: r.role, cells: [r.role, r.cases, r.decisions] })),
          'No clinician decisions in this range.',
        ),
      ),
      card(
        h,
        'turnaround',
        'Turnaround, receipt to closed',
        table(
          h,
          'turnaround',
          ['Closed from queue', 'Closed', 'p50', 'p90'],
          report.turnaround.map((/** @type {any} */ q) => ({
            key: q.queue ?? 'none',
            cells: [
              q.queue ?? 'none (closed by the protocol)',
              q.closed,
              duration(q.p50Seconds),
              duration(q.p90Seconds),
            ],
          })),
          'No closed cases in this range.',
        ),
      ),
      card(
        h,
        'sla',
        'SLA and escalations',
        table(
          h,
          'escalations',
          ['Escalation reason', 'Cases'],
          Object.entries(t.escalations.byReason).map(([r, n]) => ({ key: r, cells: [r, /** @type {number} */ (n)] })),
          'No escalations.',
        ),
      ),
    ),
    card(
      h,
      'failing',
      'Most frequent failing criteria',
      table(
        h,
        'failing',
        ['Criterion', 'Kind', 'Protocol', 'Cases'],
        report.failingCriteria.map((/** @type {any} */ f) => ({
          key: `${f.kind}:${f.protocolId ?? ''}:${f.criterion}`,
          cells: [f.criterion, f.kind, f.protocolId ?? '—', f.cases],
        })),
        'No failing criteria.',
      ),
    ),
    card(
      h,
      'overrides',
      `Overrides (${report.overrides.total}${report.overrides.items.length < report.overrides.total ? `, latest ${report.overrides.items.length} listed` : ''})`,
      report.overrides.items.length === 0
        ? h('p', { class: 'muted', 'data-testid': 'overrides-empty' }, 'No decision overrode the protocol.')
        : h(
            'div',
            { class: 'table-wrap' },
            h(
              'table',
              { class: 'analytics-table', 'data-testid': 'overrides' },
              h(
                'thead',
                null,
                h(
                  'tr',
                  null,
                  ['Case', 'Protocol said', 'Decided', 'By', 'Closed'].map((x) => h('th', { scope: 'col' }, x)),
                ),
              ),
              h(
                'tbody',
                null,
                report.overrides.items.map((/** @type {any} */ o) =>
                  h(
                    'tr',
                    { 'data-key': o.caseId },
                    h('td', null, h('a', { href: `#/case/${encodeURIComponent(o.caseId)}` }, o.caseId)),
                    h('td', null, o.disposition),
                    h('td', null, o.outcome),
                    h('td', null, o.role ?? '—'),
                    h('td', null, o.closedAt ? o.closedAt.slice(0, 16).replace('T', ' ') + 'Z' : '—'),
                  ),
                ),
              ),
            ),
          ),
    ),
  );
}

/**
 * Shows the page in `root` for the filters in the hash; answers false when the viewer may not see it.
 * @param {HTMLElement} root @param {AnalyticsContext} ctx
 */
export async function showAnalytics(root, ctx) {
  const { h, me } = ctx;
  const f = filtersFromHash(location.hash, me.clinicId);
  document.title = 'Analytics · Console';
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite', 'data-testid': 'analytics-status' });
  const body = h('div', { id: 'analytics-body' });
  const csv = /** @type {HTMLButtonElement} */ (
    h('button', { type: 'button', class: 'btn', 'data-testid': 'csv' }, 'Download CSV')
  );

  /** @type {HTMLElement} */
  let clinicField = h('input', {
    id: 'an-clinic',
    name: 'clinicId',
    value: f.clinicId,
    required: true,
    readonly: me.clinicId !== null,
    spellcheck: 'false',
  });
  const protocolField = h(
    'select',
    { id: 'an-protocol', name: 'protocolId' },
    h('option', { value: '' }, 'All protocols'),
  );
  const form = h(
    'form',
    { class: 'filters', id: 'analytics-filters', novalidate: true },
    h('div', null, h('label', { for: 'an-clinic' }, 'Clinic'), clinicField),
    h(
      'div',
      null,
      h('label', { for: 'an-from' }, 'From'),
      h('input', { id: 'an-from', name: 'from', type: 'date', value: f.from, required: true }),
    ),
    h(
      'div',
      null,
      h('label', { for: 'an-to' }, 'To'),
      h('input', { id: 'an-to', name: 'to', type: 'date', value: f.to, required: true }),
    ),
    h('div', null, h('label', { for: 'an-protocol' }, 'Protocol'), protocolField),
    h(
      'div',
      null,
      h('label', { for: 'an-granularity' }, 'Per'),
      h(
        'select',
        { id: 'an-granularity', name: 'granularity' },
        h('option', { value: 'day', selected: f.granularity === 'day' }, 'day'),
        h('option', { value: 'week', selected: f.granularity === 'week' }, 'week'),
      ),
    ),
    h('div', { class: 'filters-actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Show'), csv),
  );
  root.replaceChildren(
    h(
      'div',
      { class: 'queue-head' },
      h('h1', { id: 'analytics-title' }, 'Outcome analytics'),
      h(
        'p',
        { class: 'muted' },
        `Requests, automation and physician touches per ${f.granularity}, in the clinic's time zone. Ids and codes only.`,
      ),
    ),
    form,
    status,
    body,
  );

  /** @returns {Filters} */
  const read = () => {
    const data = new FormData(/** @type {HTMLFormElement} */ (form));
    const s = (/** @type {string} */ k) => {
      const v = data.get(k);
      return typeof v === 'string' ? v.trim() : '';
    };
    return {
      clinicId: me.clinicId ?? s('clinicId'),
      from: s('from'),
      to: s('to'),
      protocolId: s('protocolId'),
      granularity: s('granularity') === 'week' ? 'week' : 'day',
    };
  };
  /** A message for filters the server would refuse anyway (it checks them too). @param {Filters} x */
  const invalid = (x) => {
    if (!x.clinicId) return 'Name the clinic.';
    if (!/^\d{4}-\d{2}-\d{2}$/.test(x.from) || !/^\d{4}-\d{2}-\d{2}$/.test(x.to)) return 'Pick both dates.';
    const days = Math.round((Date.parse(x.to) - Date.parse(x.from)) / 86_400_000) + 1;
    if (days < 1) return '"To" must be on or after "From".';
    if (days > MAX_DAYS) return `At most ${MAX_DAYS} days at a time.`;
    return null;
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const x = read();
    const why = invalid(x);
    if (why) {
      status.textContent = why;
      status.className = 'status status-error';
      return;
    }
    // The hash carries the filters (ids and dates only); the router calls this page again with them.
    const next = `#/analytics?${queryOf(x)}`;
    if (location.hash === next) void load(x);
    else location.hash = next;
  });
  csv.addEventListener('click', () => void download(read()));

  // Pick lists: the clinics (a global admin) and the protocols; a failure leaves the plain fields.
  void ctx
    .api('/v1/protocols')
    .then((/** @type {any} */ res) => {
      for (const p of res.items ?? []) {
        protocolField.append(h('option', { value: p.id, selected: p.id === f.protocolId }, `${p.title} (${p.id})`));
      }
      if (f.protocolId && ![...protocolField.querySelectorAll('option')].some((o) => o.value === f.protocolId)) {
        protocolField.append(h('option', { value: f.protocolId, selected: true }, f.protocolId));
      }
    })
    .catch(() => undefined);
  if (me.clinicId === null) {
    void ctx
      .api('/v1/clinics')
      .then((/** @type {any} */ res) => {
        const items = res.items ?? [];
        if (items.length === 0) return;
        const select = h(
          'select',
          { id: 'an-clinic', name: 'clinicId', required: true },
          h('option', { value: '' }, 'Choose a clinic'),
          items.map((/** @type {any} */ c) =>
            h('option', { value: c.id, selected: c.id === f.clinicId }, `${c.name} (${c.id})`),
          ),
        );
        clinicField.replaceWith(select);
        clinicField = select;
      })
      .catch(() => undefined);
  }

  /** @param {Filters} x */
  async function load(x) {
    const why = invalid(x);
    if (why) {
      status.textContent = x.clinicId ? why : 'Choose a clinic and a range, then press Show.';
      status.className = 'status';
      body.replaceChildren();
      return;
    }
    status.textContent = 'Loading…';
    status.className = 'status';
    try {
      const report = await ctx.api(`/v1/analytics?${queryOf(x)}`);
      body.replaceChildren(renderReport(h, report));
      status.textContent = `Clinic ${report.clinicId} (${report.timezone}), ${report.from} to ${report.to}${report.protocolId ? `, protocol ${report.protocolId}` : ''}; as of ${report.asOf.slice(0, 16).replace('T', ' ')}Z.`;
      status.className = 'status';
    } catch (err) {
      if (ctx.handleAuthError(err)) return;
      body.replaceChildren();
      status.textContent = ctx.errorText(err);
      status.className = 'status status-error';
    }
  }

  /** Fetches the CSV with the session's token and saves it (a plain link would carry no token). @param {Filters} x */
  async function download(x) {
    const why = invalid(x);
    if (why) {
      status.textContent = why;
      status.className = 'status status-error';
      return;
    }
    csv.disabled = true;
    try {
      const res = await ctx.fetchRaw(`/v1/analytics.csv?${queryOf(x)}`);
      if (!res.ok) throw new Error(`The CSV was refused (HTTP ${res.status}).`);
      const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? 'analytics.csv';
      const url = URL.createObjectURL(await res.blob());
      const a = h('a', { href: url, download: name, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) {
      status.textContent = err instanceof Error ? err.message : ctx.errorText(err);
      status.className = 'status status-error';
    } finally {
      csv.disabled = false;
    }
  }

  await load(f);
}
