// GET /metrics after one real triage (Temporal dev server, sandbox EHR with SMART auth, the worker in this process, so
// its counters share the registry the API serves): the webhook's outcome, the routing by disposition and queue, the
// FHIR calls by interaction and the request latency moved by what the triage did.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { refillEvent, startHarness, type Harness } from '../helpers/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ patients: 60 });
});
afterAll(async () => {
  await h?.close();
});

/** The sum of the samples of `name` whose labels include `labels`. */
function sum(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = new Map<string, string>();
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) have.set(l[1]!, l[2]!);
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) total += Number(m[3]);
  }
  return total;
}

async function scrape(): Promise<string> {
  const res = await h.api('/metrics');
  expect(res.status).toBe(200);
  return res.text();
}

test('one triage moves the webhook, routing, FHIR and latency counters', async () => {
  const s = h.scenario((x) => x.scenario === 'bladder-no-rov-within-12mo');
  const before = await scrape();
  const webhook = { webhook: '/v1/webhooks/:clinicId/refill-requests', clinic: h.clinicId };

  const res = await h.webhook(h.clinicId, refillEvent(s.medicationRequestId));
  expect(res.status, await res.clone().text()).toBe(202);
  const { caseId } = (await res.json()) as { caseId: string };
  const routed = await h.waitForCase(caseId, (c) => c.status === 'queued');
  expect(routed).toMatchObject({ queue: 'nurse', disposition: s.expectedDisposition });
  // A bad signature from the same clinic: counted under the clinic, as a 401.
  expect((await h.webhook(h.clinicId, refillEvent('mr-other'), { secret: 'not-the-secret-0123456789' })).status).toBe(
    401,
  );

  const after = await scrape();
  const delta = (name: string, labels: Record<string, string> = {}) =>
    sum(after, name, labels) - sum(before, name, labels);
  expect(delta('autopilot_webhook_deliveries_total', { ...webhook, status: '202' })).toBe(1);
  expect(delta('autopilot_webhook_deliveries_total', { ...webhook, status: '401' })).toBe(1);
  expect(
    delta('autopilot_cases_routed_total', {
      clinic: h.clinicId,
      kind: 'refill',
      disposition: s.expectedDisposition,
      queue: 'nurse',
    }),
  ).toBe(1);
  // The triage read the request and the record (a batch where the sandbox offers it), after a SMART token.
  expect(delta('autopilot_fhir_requests_total', { interaction: 'read', status_class: '2xx' })).toBeGreaterThanOrEqual(
    1,
  );
  expect(delta('autopilot_fhir_requests_total', { interaction: 'batch', status_class: '2xx' })).toBeGreaterThanOrEqual(
    1,
  );
  expect(delta('autopilot_fhir_request_duration_seconds_count', { interaction: 'read' })).toBeGreaterThanOrEqual(1);
  expect(
    delta('autopilot_http_request_duration_seconds_count', {
      method: 'POST',
      route: '/v1/webhooks/:clinicId/refill-requests',
    }),
  ).toBe(2);
  expect(delta('autopilot_http_requests_total', { route: '/v1/cases/:caseId', status: '200' })).toBeGreaterThanOrEqual(
    1,
  );
  // The case waits in the nurse queue: the gauge says so (refreshed at most every 5 s, so wait out the cache).
  await new Promise((r) => setTimeout(r, 5100));
  expect(sum(await scrape(), 'autopilot_queue_depth', { clinic: h.clinicId, queue: 'nurse' })).toBeGreaterThanOrEqual(
    1,
  );
  // No patient id, medication request id or case id in any label.
  expect(after).not.toContain(s.patientId);
  expect(after).not.toContain(s.medicationRequestId);
});
