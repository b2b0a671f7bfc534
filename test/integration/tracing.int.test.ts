// Traces through the real stack (Temporal dev server, sandbox EHR with SMART auth, the traced workflow bundle), with an
// in-memory exporter behind the same PHI-safe processor production uses: one trace from the webhook through the
// workflow and its activities to each FHIR call, one from a decision (an Update) to its write-back, and no span
// anywhere naming the synthetic patient (name, birth date, MRN, id) or carrying the clinician's note.
import type { Patient } from '@medplum/fhirtypes';
import { SpanStatusCode, context, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { DefaultLogger, bundleWorkflowCode } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FAILURE_CONVERTER_PATH } from '../../connectors/codec.ts';
import { logTraceIds } from '../../connectors/logger.ts';
import {
  TRACED_WORKFLOW_MODULES,
  startTracing,
  workerTracingOptions,
  type TracingHandle,
} from '../../connectors/telemetry/tracing.ts';
import { refillEvent, startHarness, type Harness } from '../helpers/harness.ts';
import { WORKFLOWS_PATH } from '../helpers/temporal.ts';

const exporter = new InMemorySpanExporter();
let tracing: TracingHandle | undefined;
let h: Harness;

beforeAll(async () => {
  tracing = await startTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: undefined }, 'ehr-autopilot-test', { exporter });
  const bundle = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    failureConverterPath: FAILURE_CONVERTER_PATH,
    workflowInterceptorModules: [...TRACED_WORKFLOW_MODULES],
    logger: new DefaultLogger('WARN'),
  });
  h = await startHarness({ patients: 60, workerOptions: { workflowBundle: bundle, ...workerTracingOptions() } });
});
afterAll(async () => {
  await h?.close();
  await tracing?.shutdown();
});

const traceOf = (res: Response) => res.headers.get('x-request-id')!.replaceAll('-', '');

/** Waits until the spans of `traceId` include every name matching each of `patterns`; returns that trace's spans. */
async function spansOf(traceId: string, patterns: RegExp[], timeoutMs = 15_000): Promise<ReadableSpan[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const spans = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    const missing = patterns.filter((p) => !spans.some((s) => p.test(s.name)));
    if (missing.length === 0) return spans;
    if (Date.now() > deadline) {
      throw new Error(`trace ${traceId} lacks ${missing.join(', ')}; has ${spans.map((s) => s.name).join(', ')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Every string a span exports: its name, attribute values, events and status message. */
function exportedText(span: ReadableSpan): string[] {
  return [
    span.name,
    span.status.message ?? '',
    ...Object.values(span.attributes).map(String),
    ...span.events.flatMap((e) => [e.name, ...Object.values(e.attributes ?? {}).map(String)]),
  ];
}

describe('one trace per request, through Temporal to the EHR, with ids and codes only', () => {
  test('webhook → workflow → activity → FHIR call; decision → Update → write-back; no PHI in any span', async () => {
    const s = h.scenario((x) => x.scenario === 'bladder-no-rov-within-12mo');
    const res = await h.webhook(h.clinicId, refillEvent(s.medicationRequestId));
    expect(res.status, await res.clone().text()).toBe(202);
    const { caseId } = (await res.json()) as { caseId: string };
    await h.waitForCase(caseId, (c) => c.status === 'queued' && c.queue === 'nurse');

    // X-Request-Id (a UUID) is the trace id: the request's server span is the root of it.
    const webhookTrace = traceOf(res);
    const triage = await spansOf(webhookTrace, [
      /^POST \/v1\/webhooks\/:clinicId\/refill-requests$/,
      /^StartWorkflow:refillTriage$/,
      /^StartActivity:/,
      /^RunActivity:/,
      /^FHIR read$/,
      /^FHIR token$/,
    ]);
    const root = triage.find((x) => x.name.startsWith('POST /v1/webhooks/'))!;
    expect(root.parentSpanId).toBeUndefined();
    expect(root.attributes).toMatchObject({
      'http.route': '/v1/webhooks/:clinicId/refill-requests',
      'http.response.status_code': 202,
    });
    // Each FHIR call hangs under the activity that made it.
    const runs = new Set(triage.filter((x) => x.name.startsWith('RunActivity:')).map((x) => x.spanContext().spanId));
    const fhir = triage.filter((x) => x.name.startsWith('FHIR '));
    expect(fhir.length).toBeGreaterThan(1);
    for (const call of fhir) expect(runs.has(call.parentSpanId!), call.name).toBe(true);
    expect(fhir.find((x) => x.name === 'FHIR read')!.attributes).toMatchObject({
      'fhir.interaction': 'read',
      'fhir.resource_type': 'MedicationRequest',
      'http.response.status_code': 200,
    });

    // A doctor decides: the decision request's trace runs through the Update into the write-back's FHIR calls.
    const note = 'Renewed after talking to Ms Example about her bladder';
    const decision = await h.api(`/v1/cases/${caseId}/decision`, {
      method: 'POST',
      as: 'doctor',
      body: JSON.stringify({ action: 'approve', note }),
    });
    expect(decision.status, await decision.clone().text()).toBe(200);
    await h.waitForCase(caseId, (c) => c.status === 'closed');
    const decided = await spansOf(traceOf(decision), [
      /^POST \/v1\/cases\/:caseId\/decision$/,
      /^StartWorkflowUpdate:/,
      /^HandleUpdate:/,
      /^RunActivity:writeBackOutcome$/,
      /^FHIR (create|update)$/,
    ]);
    const writeBack = decided.find((x) => x.name === 'RunActivity:writeBackOutcome')!;
    expect(
      decided.some((x) => /^FHIR (create|update)$/.test(x.name) && x.parentSpanId === writeBack.spanContext().spanId),
    ).toBe(true);
    // The workflow's own span ends with the case, in the webhook's trace.
    await spansOf(webhookTrace, [/^RunWorkflow:refillTriage$/]);

    // No span of either trace, nor any other, names the patient or carries the note.
    const patient = h.resources.find((r): r is Patient => r.resourceType === 'Patient' && r.id === s.patientId)!;
    const name = patient.name![0]!;
    const forbidden = [
      name.family!,
      ...name.given!,
      patient.birthDate!,
      patient.identifier!.find((i) => i.type)!.value!,
      s.patientId,
      note,
    ];
    for (const f of forbidden) expect(f.length).toBeGreaterThan(3);
    const all = exporter.getFinishedSpans();
    expect(all.length).toBeGreaterThan(20);
    for (const span of all) {
      for (const text of exportedText(span)) {
        for (const f of forbidden) expect(text, `${span.name}: ${text}`).not.toContain(f);
      }
    }
  });

  test('the PHI-safe processor drops attributes off the allow-list, error messages and exception details', () => {
    const span = trace.getTracer('test').startSpan('planted');
    span.setAttributes({
      'patient.name': 'Jane Planted',
      'fhir.interaction': 'read',
      'http.response.status_code': 500,
    });
    span.recordException(new Error('Jane Planted has no MRN'));
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'Jane Planted' });
    span.end();
    const out = exporter.getFinishedSpans().find((x) => x.name === 'planted')!;
    expect(out.attributes).toEqual({ 'fhir.interaction': 'read', 'http.response.status_code': 500 });
    expect(out.status).toEqual({ code: SpanStatusCode.ERROR });
    expect(out.events.map((e) => e.attributes)).toEqual([{ 'exception.type': 'Error' }]);
  });

  test('log lines inside a span carry its trace id (the logger mixin)', () => {
    expect(logTraceIds()).toEqual({});
    const span = trace.getTracer('test').startSpan('logging');
    const ids = context.with(trace.setSpan(context.active(), span), () => logTraceIds());
    span.end();
    expect(ids).toEqual({ traceId: span.spanContext().traceId, spanId: span.spanContext().spanId });
  });
});
