// WORKFLOW SANDBOX CODE (deterministic; only @temporalio/workflow, @opentelemetry/api and the Temporal OpenTelemetry
// interceptors' header codec), loaded by path into the traced workflow bundle BEFORE the OpenTelemetry interceptors
// (connectors/telemetry/tracing.ts: TRACED_WORKFLOW_MODULES), like connectors/failure-converter.js is.
//
// Why: a workflow's main routine runs in the trace of the request that started it (the webhook), but what it does after
// a clinician's decision (an Update) or an event (a Signal) is that message's consequence: the write-back to the EHR
// belongs to the decision's trace. So once a message is accepted, the activities the workflow schedules next run under
// the message's trace context (the OpenTelemetry interceptor, called inside ours, parents its spans there and passes it
// on in the activity's headers), until the next message. Trace context only: no command, and so no replay, changes.
import { context, type Context } from '@opentelemetry/api';
import { extractContextFromHeaders } from '@temporalio/interceptors-opentelemetry/lib/instrumentation.js';
import type { WorkflowInterceptors } from '@temporalio/workflow';

export const interceptors = (): WorkflowInterceptors => {
  let cause: Context | undefined;
  const inContext = <T>(run: () => Promise<T>): Promise<T> => (cause ? context.with(cause, run) : run());
  return {
    inbound: [
      {
        // Set before the handler runs: it may unblock the main routine, which then schedules the effects.
        handleUpdate(input, next) {
          cause = extractContextFromHeaders(input.headers) ?? cause;
          return next(input);
        },
        handleSignal(input, next) {
          cause = extractContextFromHeaders(input.headers) ?? cause;
          return next(input);
        },
      },
    ],
    outbound: [
      {
        scheduleActivity: (input, next) => inContext(() => next(input)),
        scheduleLocalActivity: (input, next) => inContext(() => next(input)),
      },
    ],
  };
};
