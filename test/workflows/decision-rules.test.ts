// The API's precheck and the workflow's Update validator give the same answer for the same case: both ask
// rules/lifecycle `canDecide`. Table-driven over role × action for every state a case can be in when a decision
// arrives, through both real paths: the HTTP route (its precheck reads the projection; a recording gateway stands
// behind it) and an Update sent straight to a running refillTriage workflow (its validator; the real gateway maps the
// refusal's ApplicationFailure type). Real Temporal dev server; the activities are stand-ins that can hold a case in
// a state (triaging, closing, a decision pending) while it is probed.
import { activityInfo } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { projectCase, type ProjectCaseInput } from '../../activities/kinds/refill/case-projection.ts';
import { createApp } from '../../api/app.ts';
import { refillStart } from '../../api/kinds/refill/webhook.ts';
import { ensureBuiltinProtocols } from '../../api/seed.ts';
import { createWorkflowGateway, type WorkflowGateway } from '../../api/workflow-gateway.ts';
import { loadConfig } from '../../connectors/config.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { createLogger } from '../../connectors/logger.ts';
import type { TemporalClientHandle } from '../../connectors/temporal.ts';
import { AppError } from '../../rules/index.ts';
import { refillKind } from '../../rules/kinds/refill/index.ts';
import {
  CLINICIAN_ACTIONS,
  ROLES,
  defaultSigningPolicy,
  type ClinicianAction,
  type Queue,
  type Role,
} from '../../rules/lifecycle/index.ts';
import type { CaseState } from '../../workflows/refill-triage-messages.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { TEST_POLICY } from '../helpers/harness.ts';
import { createTestClient, createTestWorker, withCombinedTriage, type TestWorker } from '../helpers/temporal.ts';

const CLINIC = 'lc';
let delegating = false;
const TOKEN: Record<Role, string> = {
  admin: 'lifecycle-admin-token-0123456789',
  doctor: 'lifecycle-doctor-token-012345678',
  nurse: 'lifecycle-nurse-token-0123456789',
  pharmacist: 'lifecycle-pharmacist-token-012345',
  pa: 'lifecycle-pa-token-0123456789abc',
  privacy: 'lifecycle-privacy-token-0123456789',
};
// (No refill disposition routes to the outreach queue; the entry only completes the record.)
const DISPOSITION: Record<Queue, string> = {
  signature: 'approve',
  nurse: 'needs_visit',
  doctor: 'doctor_review',
  outreach: 'none',
  cosign: 'none',
};

let tdb: TestDatabase;
let store: Store;
let temporal: TemporalClientHandle;
let testWorker: TestWorker;
let running: Promise<void>;
let gateway: WorkflowGateway;
let app: ReturnType<typeof createApp>;
const started: string[] = [];

/** Activities held until released, by case id: the case stays in the state it is in meanwhile. */
const held = new Map<string, () => void>();
const hold = (caseId: string) => new Promise<void>((resolve) => held.set(caseId, resolve));
const release = () => {
  for (const r of held.values()) r();
  held.clear();
};

const queueOf = (caseId: string): Queue => (['signature', 'nurse', 'doctor'] as const).find((q) => caseId.includes(q))!;

beforeAll(async () => {
  tdb = await openTestDatabase('sqlite');
  store = createStore(tdb.db);
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent' });
  const logger = createLogger(config, 'test');
  await ensureBuiltinProtocols(store, logger);
  await store.clinics.upsert({
    id: CLINIC,
    name: 'Lifecycle clinic',
    webhookSecret: 'lifecycle-test-secret-0123456789',
    fhirBaseUrl: 'http://127.0.0.1:9/fhir/R4',
    fhirClientId: 'x',
    fhirPrivateKeyJwk: null,
    fhirTokenUrl: null,
    protocolId: 'family-medicine-2015',
    nurseSlaSeconds: 3600,
    timezone: 'UTC',
  });
  for (const role of ROLES) {
    await store.tokens.createToken({ name: role, role, userId: `${role}-1`, token: TOKEN[role] });
  }
  const activities = withCombinedTriage({
    pinProtocol: () => Promise.resolve({ id: 'family-medicine-2015', version: 1 }),
    // While `delegating` is set, new cases pin a policy that delegates signing to pharmacists; otherwise `doctor`.
    pinSigningPolicy: (i: { clinicId: string; protocolId: string }) =>
      Promise.resolve({
        ...defaultSigningPolicy(i.protocolId),
        ...(delegating
          ? {
              mode: 'delegated',
              delegates: ['pharmacist'],
              authority: { reference: null, display: 'Dr Who' },
              version: 3,
            }
          : {}),
      }),
    gatherPatientFacts: async (i: { caseId: string }) => {
      if (i.caseId.includes('triaging')) {
        // The EHR read's quick first try (a local activity, during which the workflow task stays open and Updates
        // wait) fails as a slow EHR would; the case then triages in the durable activity, where it is held.
        if (activityInfo().isLocal) throw ApplicationFailure.retryable('EHR slow', 'EHR_UNAVAILABLE');
        await hold(i.caseId);
      }
      return { patientId: 'pat-1', drugName: 'Drug', facts: {} };
    },
    evaluateProtocol: (i: { caseId: string; protocol: { id: string; version: number } }) =>
      Promise.resolve({
        disposition: DISPOSITION[queueOf(i.caseId)],
        routeTo: null,
        protocol: i.protocol,
        criteria: [],
        failedCriteria: [],
        actions: [],
        drug: { name: 'Drug', ingredients: [], classes: [], controlledSchedule: null },
      }),
    projectCase: (i: ProjectCaseInput) => projectCase({ store }, i),
    syncQueueTask: async (i: { caseId: string; status: string }) => {
      if (i.status === 'completed' && i.caseId.includes('closing')) await hold(i.caseId);
      return { taskId: 'task-1' };
    },
    writeBackOutcome: async (i: { caseId: string; decidedBy: { kind: string } }) => {
      if (i.decidedBy.kind === 'clinician' && i.caseId.includes('pending')) await hold(i.caseId);
      return {};
    },
  });
  temporal = await createTestClient();
  testWorker = await createTestWorker({ activities });
  running = testWorker.worker.run();
  gateway = createWorkflowGateway(temporal.client, { taskQueue: testWorker.taskQueue });
  // The API's own path stops at the gateway: whatever passes the precheck is recorded as "ok", never sent.
  const recording = {
    submitDecision: (caseId: string, _workflowType: string, d: { decisionId: string; action: ClinicianAction }) =>
      Promise.resolve({ caseId, decisionId: d.decisionId, action: d.action, queue: null }),
    // The precheck of a delegate in the signature queue reads the case's pinned signing policy from the workflow.
    getCaseState: (caseId: string, workflowType: string) => gateway.getCaseState(caseId, workflowType),
  } as unknown as WorkflowGateway;
  app = createApp({ config, db: tdb.db, store, workflows: recording, logger, now: () => new Date() });
});

afterAll(async () => {
  release();
  await new Promise((r) => setTimeout(r, 500)); // the held cases finish their step before they are terminated
  await Promise.all(
    started.map((id) =>
      temporal.client.workflow
        .getHandle(id)
        .terminate('test done')
        .catch(() => undefined),
    ),
  );
  testWorker?.worker.shutdown();
  await running;
  await testWorker?.close();
  await temporal?.close();
  await tdb?.cleanup();
});

let n = 0;
async function startCase(tag: string): Promise<string> {
  n += 1;
  const caseId = `rf_${CLINIC}_${tag}-${n}`;
  await gateway.startCase(
    refillStart({
      caseId,
      clinicId: CLINIC,
      medicationRequestId: `mr-${n}`,
      ehrRequestId: `req-${n}`,
      requestId: `request-${n}`,
      receivedAt: new Date().toISOString(),
      automationEnabled: true,
      nurseSlaSeconds: 3600,
      policy: TEST_POLICY,
    }),
  );
  started.push(caseId);
  return caseId;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until the workflow's own state passes `pred` and the projection the API reads shows the same status/queue. */
async function settled(caseId: string, pred: (s: CaseState) => boolean): Promise<CaseState> {
  const state = await until(`${caseId} state`, async () => {
    const s = await gateway.getCaseState<CaseState>(caseId, refillKind.workflowType);
    return s && pred(s) ? s : undefined;
  });
  await until(`${caseId} projection`, async () => {
    const r = await store.cases.getCase(caseId);
    return r && r.status === state.status && r.queue === state.queue ? r : undefined;
  });
  return state;
}

/** Path 1: the HTTP route's precheck. "ok" when it let the decision through to the gateway. */
async function viaApi(caseId: string, role: Role, action: ClinicianAction): Promise<string> {
  const res = await app.request(`/v1/cases/${caseId}/decision`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN[role]}`, 'content-type': 'application/json' },
    body: JSON.stringify({ action }),
  });
  if (res.status === 200) return 'ok';
  const { error } = (await res.json()) as { error: { code: string; message: string } };
  expect(res.status, `${error.code} ${error.message}`).toBe(error.code === 'FORBIDDEN' ? 403 : 409);
  return `${error.code}: ${error.message}`;
}

/** Path 2: an Update straight to the workflow, no precheck. "ok" when its validator accepted it. */
async function viaWorkflow(caseId: string, role: Role, action: ClinicianAction): Promise<string> {
  try {
    await gateway.submitDecision(caseId, refillKind.workflowType, {
      decisionId: `dec-${role}-${action}-${Math.random().toString(36).slice(2, 10)}`,
      action,
      actor: { userId: `${role}-1`, role },
      at: new Date().toISOString(),
    });
    return 'ok';
  } catch (err) {
    if (err instanceof AppError) return `${err.code}: ${err.message}`;
    throw err;
  }
}

// A privacy officer never reaches the precheck: the edge refuses its token on every case route (test/api/access.test.ts).
const combos = ROLES.filter((role) => role !== 'privacy').flatMap((role) =>
  CLINICIAN_ACTIONS.map((action) => ({ role, action })),
);

describe('the API precheck and the workflow validator answer alike', () => {
  test.each(['signature', 'nurse', 'doctor'] as const)(
    'a case queued in the %s queue: every role × action',
    async (queue) => {
      const shared = await startCase(`${queue}-q`);
      await settled(shared, (s) => s.status === 'queued');
      const answers: string[] = [];
      for (const { role, action } of combos) {
        const api = await viaApi(shared, role, action);
        // A decision the precheck lets through changes the case: the workflow gets it on a case of its own.
        let target = shared;
        if (api === 'ok') {
          target = await startCase(`${queue}-ok`);
          await settled(target, (s) => s.status === 'queued');
        }
        const workflow = await viaWorkflow(target, role, action);
        expect(workflow, `${role} ${action}`).toBe(api);
        answers.push(`${role} ${action}: ${api}`);
      }
      // Both paths agree, and on what the product says (README "Case lifecycle").
      const allowed = answers.filter((a) => a.endsWith(': ok')).map((a) => a.replace(/: ok$/, ''));
      expect(allowed).toEqual(
        {
          signature: ['doctor approve', 'doctor deny', 'doctor needs_visit'],
          nurse: [
            'doctor approve',
            'doctor deny',
            'doctor needs_visit',
            'doctor escalate',
            'nurse approve',
            'nurse deny',
            'nurse needs_visit',
            'nurse escalate',
            'pharmacist approve',
            'pharmacist deny',
            'pharmacist needs_visit',
            'pharmacist escalate',
            'pa approve',
            'pa deny',
            'pa needs_visit',
            'pa escalate',
          ],
          doctor: ['doctor approve', 'doctor deny', 'doctor needs_visit', 'pa approve', 'pa deny', 'pa needs_visit'],
        }[queue],
      );
      expect(answers).toContain('admin approve: FORBIDDEN: Admins configure; clinicians decide cases');
      if (queue === 'signature') {
        expect(answers).toContain(
          'pharmacist approve: FORBIDDEN: The signature queue needs a doctor: the clinic’s signing policy does not let this role sign this order',
        );
      }
      if (queue === 'doctor')
        expect(answers).toContain('nurse approve: FORBIDDEN: The doctor queue needs a doctor or physician assistant');
      if (queue !== 'nurse') {
        expect(answers).toContain('doctor escalate: CONFLICT: Only a nurse-queue case can be escalated');
      }
    },
  );

  test('under a policy delegating to pharmacists: a protocol-approved signature-queue case, every role × action', async () => {
    delegating = true;
    try {
      const shared = await startCase('signature-deleg');
      const state = await settled(shared, (s) => s.status === 'queued');
      expect(state.signing).toMatchObject({ policy: { mode: 'delegated', version: 3 }, controlled: false });
      const answers: string[] = [];
      for (const { role, action } of combos) {
        const api = await viaApi(shared, role, action);
        let target = shared;
        if (api === 'ok') {
          target = await startCase('signature-deleg-ok');
          await settled(target, (s) => s.status === 'queued');
        }
        const workflow = await viaWorkflow(target, role, action);
        expect(workflow, `${role} ${action}`).toBe(api);
        answers.push(`${role} ${action}: ${api}`);
      }
      const allowed = answers.filter((a) => a.endsWith(': ok')).map((a) => a.replace(/: ok$/, ''));
      // The pharmacist the policy names signs; a nurse and a PA, whom it does not name, are refused.
      expect(allowed).toEqual([
        'doctor approve',
        'doctor deny',
        'doctor needs_visit',
        'pharmacist approve',
        'pharmacist deny',
        'pharmacist needs_visit',
      ]);
      expect(answers).toContain(
        'nurse approve: FORBIDDEN: The signature queue needs a doctor or pharmacist: the clinic’s signing policy does not let this role sign this order',
      );
    } finally {
      delegating = false;
    }
  });

  test('a case still triaging, and a case closing: every role × action', async () => {
    const triaging = await startCase('nurse-triaging');
    await settled(triaging, (s) => s.status === 'triaging' && held.has(triaging));
    const closing = await startCase('nurse-closing');
    await settled(closing, (s) => s.status === 'queued');
    expect(await viaWorkflow(closing, 'nurse', 'deny')).toBe('ok');
    // The workflow is closed (its Task update held); the projection catches up as the workflow would write it.
    const state = await until('closing', async () => {
      const s = await gateway.getCaseState<CaseState>(closing, refillKind.workflowType);
      return s?.status === 'closed' && held.has(closing) ? s : undefined;
    });
    await projectCase(
      { store },
      {
        caseId: closing,
        clinicId: CLINIC,
        requestId: 'request-closing',
        medicationRequestId: 'mr-closing',
        patientId: null,
        drugName: null,
        seq: 100,
        at: new Date().toISOString(),
        event: 'case.closed',
        actor: null,
        detail: { outcome: state.outcome },
        state: { ...state, slaDueAt: null },
      },
    );
    for (const { role, action } of combos) {
      for (const [caseId, expected] of [
        [triaging, 'CONFLICT: The case is not awaiting a decision yet'],
        [closing, 'CONFLICT: The case is closed'],
      ] as const) {
        const api = await viaApi(caseId, role, action);
        expect(await viaWorkflow(caseId, role, action), `${caseId} ${role} ${action}`).toBe(api);
        expect(api).toBe(role === 'admin' ? 'FORBIDDEN: Admins configure; clinicians decide cases' : expected);
      }
    }
  });

  test('a decision already pending is the one thing only the validator knows', async () => {
    const caseId = await startCase('nurse-pending');
    await settled(caseId, (s) => s.status === 'queued');
    expect(await viaWorkflow(caseId, 'nurse', 'approve')).toBe('ok');
    await until('write-back held', () => Promise.resolve(held.has(caseId) ? true : undefined));
    for (const { role, action } of combos) {
      const api = await viaApi(caseId, role, action);
      const workflow = await viaWorkflow(caseId, role, action);
      // The projection still shows the case queued: the precheck passes what the validator then refuses.
      expect(workflow, `${role} ${action}`).toBe(api === 'ok' ? 'CONFLICT: The case already has a decision' : api);
    }
  });
});
