// Integration harness: the real stack in one process, on the run's Temporal dev server — sandbox EHR (SMART auth on),
// app database, worker with the real activities, and the API app (called with app.request).
import { randomBytes } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import type { WorkerOptions } from '@temporalio/worker';
import { loadConfig, type Config } from '../../connectors/config.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { generateClientKeyPair } from '../../connectors/fhir/auth.ts';
import { createClinicFhir } from '../../connectors/fhir/clinic-connectors.ts';
import { clinicPatientFetcher, createPatientIdentityReader } from '../../connectors/fhir/patient-identity.ts';
import { egressPolicy } from '../../connectors/fhir/egress.ts';
import { createLogger } from '../../connectors/logger.ts';
import { createSecretBox } from '../../connectors/secret-box.ts';
import { subjectKeyer } from '../../connectors/subject-key.ts';
import { createActivities } from '../../activities/index.ts';
import { factsFromBundle } from '../../facts/index.ts';
import { createApp } from '../../api/app.ts';
import type { ApiDeps } from '../../api/deps.ts';
import { ensureBuiltinProtocols } from '../../api/seed.ts';
import { signWebhook } from '../../api/middleware/webhook-signature.ts';
import { createWorkflowGateway } from '../../api/workflow-gateway.ts';
import { loadResources, IndexedRepository } from '../../sandbox/indexed-repository.ts';
import { startSandbox, type SandboxHandle } from '../../sandbox/fhir-server.ts';
import { generateClinic, type RefillScenario } from '../../sandbox/synthetic/index.ts';
import type { ActivityPolicy } from '../../workflows/activity-policy.ts';
import { openTestDatabase, type TestDatabase } from './db.ts';
import {
  createTestClient,
  createTestWorker,
  testTemporalConfig,
  uniqueTaskQueue,
  type TestWorker,
} from './temporal.ts';

/** Short retries so fault tests finish in seconds; the shape is the production one. */
export const TEST_POLICY: ActivityPolicy = {
  ehr: {
    startToCloseTimeout: '10 seconds',
    initialInterval: '100 milliseconds',
    maximumInterval: '500 milliseconds',
    maximumAttempts: 8,
  },
  ehrWrite: {
    startToCloseTimeout: '10 seconds',
    initialInterval: '100 milliseconds',
    maximumInterval: '500 milliseconds',
    maximumAttempts: 0,
  },
  local: {
    startToCloseTimeout: '10 seconds',
    initialInterval: '100 milliseconds',
    maximumInterval: '500 milliseconds',
    maximumAttempts: 0,
  },
};

export const WEBHOOK_SECRET = 'test-webhook-secret-0123456789';
export const TOKENS = {
  admin: 'admin-token-0123456789abcdefghij',
  doctor: 'doctor-token-0123456789abcdefghij',
  nurse: 'nurse-token-0123456789abcdefghij',
  pharmacist: 'pharmacist-token-0123456789abcdefgh',
  pa: 'pa-token-0123456789abcdefghijklmn',
  privacy: 'privacy-token-0123456789abcdefghij',
} as const;

export interface Harness {
  clinicId: string;
  config: Config;
  store: Store;
  sandbox: SandboxHandle;
  scenarios: RefillScenario[];
  resources: Resource[];
  app: ReturnType<typeof createApp>;
  /** What `app` was built with: another `createApp(h.deps)` is a second API replica on the same database/Temporal. */
  deps: ApiDeps;
  /** POSTs a correctly signed webhook (or a tampered one with `opts`). */
  webhook(
    clinicId: string,
    body: unknown,
    opts?: { secret?: string; timestamp?: number; raw?: string },
  ): Promise<Response>;
  /** Calls the API with a role's bearer token. */
  api(path: string, init?: RequestInit & { as?: keyof typeof TOKENS }): Promise<Response>;
  /** Polls the case (through the API) until `until` holds. */
  waitForCase(caseId: string, until: (c: CaseBody) => boolean, timeoutMs?: number): Promise<CaseBody>;
  scenario(pred: (s: RefillScenario) => boolean): RefillScenario;
  close(): Promise<void>;
}

export interface CaseBody {
  caseId: string;
  status: string;
  disposition: string | null;
  queue: string | null;
  pool: string | null;
  reason: string | null;
  outcome: string | null;
  escalated: boolean;
  protocol: { id: string; version: number } | null;
  failedCriteria: string[];
  criteria: {
    id: string;
    clause: string;
    passed: boolean;
    explanation: string;
    evidence: { resourceType: string; id: string }[];
  }[];
  timeline: { seq: number; kind: string; actor: string; detail: Record<string, unknown> }[];
  [k: string]: unknown;
}

export async function startHarness(
  opts: {
    patients?: number;
    clinic?: { nurseSlaSeconds?: number; refillAutomationEnabled?: boolean; id?: string };
    /** Environment overrides for the stack's configuration (e.g. rate limits). */
    env?: Record<string, string>;
    /** Passed on to the worker (e.g. a traced workflow bundle with its interceptors and sinks). */
    workerOptions?: Partial<WorkerOptions>;
  } = {},
): Promise<Harness> {
  const asOf = new Date().toISOString().slice(0, 10);
  const clinic = generateClinic({ seed: 2015, patients: opts.patients ?? 60, asOf });
  const repo = new IndexedRepository();
  loadResources(repo, clinic.resources);
  const keys = await generateClientKeyPair();
  const sandbox = await startSandbox({
    repo,
    clients: [{ clientId: 'autopilot-test', jwks: keys.publicJwks }],
    validate: false,
  });
  const testDb: TestDatabase = await openTestDatabase('sqlite');
  const store = createStore(testDb.db);
  // The sandbox EHR is on loopback: the egress policy must allow private networks here, explicitly.
  const config: Config = testTemporalConfig({
    DATA_DIR: testDb.options.dataDir,
    EHR_ALLOW_PRIVATE_NETWORKS: 'true',
    ...opts.env,
  });
  const logger = createLogger(loadConfig({ LOG_LEVEL: 'silent' }), 'test');
  await ensureBuiltinProtocols(store, logger);
  // Workflow ids are per clinic: a clinic id of its own keeps test files (sharing one Temporal server) apart.
  const clinicId = opts.clinic?.id ?? `clinic-${randomBytes(4).toString('hex')}`;
  await store.clinics.upsert({
    id: clinicId,
    name: 'Test clinic',
    webhookSecret: WEBHOOK_SECRET,
    fhirBaseUrl: sandbox.fhirBaseUrl,
    fhirClientId: 'autopilot-test',
    fhirPrivateKeyJwk: JSON.stringify(keys.privateJwk),
    fhirTokenUrl: null,
    protocolId: 'family-medicine-2015',
    // The refill kind's switch (the clinic API's `refillAutomationEnabled`): on unless the test says otherwise.
    kinds: [{ kind: 'refill', enabled: opts.clinic?.refillAutomationEnabled ?? true }],
    nurseSlaSeconds: opts.clinic?.nurseSlaSeconds ?? 3600,
    timezone: 'UTC',
  });
  for (const role of ['admin', 'doctor', 'nurse', 'pharmacist', 'pa'] as const) {
    await store.tokens.createToken({ name: role, role, userId: `${role}-1`, clinicId: null, token: TOKENS[role] });
  }
  // A privacy officer's token always names its clinic.
  await store.tokens.createToken({
    name: 'privacy',
    role: 'privacy',
    userId: 'privacy-1',
    clinicId,
    token: TOKENS.privacy,
  });
  const fhir = createClinicFhir(store, {
    timeoutMs: 5000,
    secrets: createSecretBox(config),
    egress: egressPolicy(config),
  });
  const temporal = await createTestClient(config);
  // The event intake and the panel sweep signal-with-start care-gap cases from activities, as activities/worker.ts.
  const taskQueue = uniqueTaskQueue();
  const triggers = { client: temporal.client, taskQueue, subjectKey: subjectKeyer(config), policy: TEST_POLICY };
  const activities = createActivities({ store, fhir, logger, triggers });
  const worker: TestWorker = await createTestWorker({
    activities,
    config,
    taskQueue,
    ...(opts.workerOptions ? { workerOptions: opts.workerOptions } : {}),
  });
  const running = worker.worker.run();
  const deps: ApiDeps = {
    config,
    db: testDb.db,
    store,
    workflows: createWorkflowGateway(temporal.client, { taskQueue: worker.taskQueue }),
    logger,
    now: () => new Date(),
    workflowPolicy: TEST_POLICY,
    // As api/main.ts: the API reads patient identities from the sandbox EHR, through a connector of its own.
    patientIdentity: createPatientIdentityReader({
      fetch: clinicPatientFetcher(
        createClinicFhir(store, { timeoutMs: 2000, secrets: createSecretBox(config), egress: egressPolicy(config) }),
      ),
    }),
    bundleFacts: (kind, bundle, asOf) => factsFromBundle(kind, bundle, { asOf }), // as api/main.ts
  };
  const app = createApp(deps);

  const h: Harness = {
    clinicId,
    config,
    store,
    sandbox,
    scenarios: clinic.refillRequests,
    resources: clinic.resources,
    app,
    deps,
    async webhook(cid, body, o = {}) {
      const raw = o.raw ?? JSON.stringify(body);
      const ts = o.timestamp ?? Math.floor(Date.now() / 1000);
      return app.request(`/v1/webhooks/${cid}/refill-requests`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-autopilot-timestamp': String(ts),
          'x-autopilot-signature': signWebhook(o.secret ?? WEBHOOK_SECRET, ts, raw),
        },
        body: raw,
      });
    },
    api(path, init = {}) {
      const { as, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (as) headers.set('authorization', `Bearer ${TOKENS[as]}`);
      if (rest.body && !headers.has('content-type')) headers.set('content-type', 'application/json');
      return Promise.resolve(app.request(path, { ...rest, headers }));
    },
    async waitForCase(caseId, until, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      let last: CaseBody | undefined;
      while (Date.now() < deadline) {
        const res = await h.api(`/v1/cases/${caseId}`, { as: 'admin' });
        if (res.status === 200) {
          last = (await res.json()) as CaseBody;
          if (until(last)) return last;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(
        `case ${caseId} did not reach the expected state; last: ${JSON.stringify(last && { status: last.status, queue: last.queue, reason: last.reason, disposition: last.disposition })}`,
      );
    },
    scenario(pred) {
      const s = clinic.refillRequests.find(pred);
      if (!s) throw new Error('no synthetic scenario matches');
      return s;
    },
    async close() {
      worker.worker.shutdown();
      await running.catch(() => undefined);
      await worker.close();
      await temporal.close();
      await sandbox.close();
      await testDb.cleanup();
    },
  };
  return h;
}

/** The plain `refill.requested` event for a refill request id. */
export function refillEvent(medicationRequestId: string, id = `evt-${medicationRequestId}`): unknown {
  return { type: 'refill.requested', id, medicationRequest: `MedicationRequest/${medicationRequestId}` };
}

/** An R4 backport topic-based Subscription notification (id-only, or full-resource with `resource`). */
export function subscriptionNotification(medicationRequestId: string, resource?: Resource): unknown {
  const ref = `MedicationRequest/${medicationRequestId}`;
  return {
    resourceType: 'Bundle',
    id: `notif-${medicationRequestId}`,
    type: 'history',
    timestamp: new Date().toISOString(),
    entry: [
      {
        fullUrl: 'urn:uuid:2d5afc69-6ef2-420f-a8d1-8500c99eb96c',
        resource: {
          resourceType: 'Parameters',
          parameter: [
            { name: 'subscription', valueReference: { reference: 'Subscription/refills' } },
            { name: 'topic', valueCanonical: 'http://example.org/topics/refill-request' },
            { name: 'status', valueCode: 'active' },
            { name: 'type', valueCode: 'event-notification' },
            { name: 'events-since-subscription-start', valueString: '1' },
            {
              name: 'notification-event',
              part: [
                { name: 'event-number', valueString: '1' },
                { name: 'timestamp', valueInstant: new Date().toISOString() },
                { name: 'focus', valueReference: { reference: ref } },
              ],
            },
          ],
        },
        request: { method: 'GET', url: 'Subscription/refills/$status' },
        response: { status: '200' },
      },
      ...(resource
        ? [{ fullUrl: ref, resource, request: { method: 'PUT', url: ref }, response: { status: '200' } }]
        : []),
    ],
  };
}
