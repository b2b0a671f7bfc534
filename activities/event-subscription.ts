// The events webhook's Subscription topic (api/routes/events.ts), for the catch-up after a lost notification and for a
// batched notification's further events (activities/subscription-catch-up.ts): the care-event resources the webhook
// accepts as focus (booked Appointments, Observations, DiagnosticReports, Procedures) changed since the last
// notification seen, each started exactly as the webhook starts an event: the delivery keyed by the intake id (a hash
// of the event id), its `event.received` audit row, then the intake workflow with that id (USE_EXISTING).
//
// The event id of a found resource is its version's, `<Type>/<id>/_history/<versionId>` (connectors/care-events.ts):
// the id a notification naming that version gets, so a resource both found and announced (late, or redelivered) is
// one intake. An EHR that gives no versionId: `<Type>/<id>@<lastUpdated>` (one intake per change the catch-up sees).
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Resource } from '@medplum/fhirtypes';
import {
  careEventFocus,
  careEventType,
  EVENTS_TOPIC,
  eventIntakeId,
  eventReceivedAudit,
  resourceVersionEventId,
} from '../connectors/care-events.ts';
import type { FhirSearchParams } from '../connectors/fhir/connector.ts';
import type { EventIntakeInput } from '../workflows/event-intake.ts';
import type { TopicReference } from '../workflows/subscription-catch-up.ts';
import type { SubscriptionTopic } from './subscription-catch-up.ts';

/** The event id a found resource gets (the same a notification naming its version gets). */
function foundEventId(resource: Resource, catchUpId: string): string {
  const ref = `${resource.resourceType}/${resource.id!}`;
  const version = resource.meta?.versionId;
  if (version && careEventFocus(resourceVersionEventId(ref, version))) return resourceVersionEventId(ref, version);
  // No version to agree on: one event per change seen (or, without even a lastUpdated, per catch-up).
  return `${ref}@${resource.meta?.lastUpdated ?? catchUpId}`;
}

/** A further event given as a bare reference (not from this webhook): its event id is the reference, as a notification's. */
const asEvent = (r: TopicReference): { reference: string; eventId: string } =>
  typeof r === 'string' ? { reference: r, eventId: r } : r;

export const eventsSubscriptionTopic: SubscriptionTopic = {
  topic: EVENTS_TOPIC,
  searches(since) {
    const changed: FhirSearchParams = { _lastUpdated: `gt${since}` };
    return [
      // An Appointment is an `appointment.booked` event while it is booked (what the webhook reads it as).
      { type: 'Appointment', params: { ...changed, status: 'booked' } },
      { type: 'Observation', params: changed },
      { type: 'DiagnosticReport', params: changed },
      { type: 'Procedure', params: changed },
    ];
  },
  found(resource, catchUpId) {
    if (resource.resourceType === 'Appointment' && resource.status !== 'booked') return null;
    const reference = `${resource.resourceType}/${resource.id!}`;
    return careEventFocus(reference) ? { reference, eventId: foundEventId(resource, catchUpId) } : null;
  },
  async start({ store, triggers, now }, input) {
    const { clinicId, requestId, catchUpId } = input;
    if (!(await store.clinics.get(clinicId))) return [];
    // A batched notification's further events were announced; a page's resources were found.
    const form = input.batch === 'given' ? 'subscription-notification' : 'subscription-catch-up';
    const intakeIds: string[] = [];
    for (const item of input.references.map(asEvent)) {
      const focus = careEventFocus(item.reference);
      if (!focus || item.eventId.length === 0) continue;
      const { resource } = focus;
      const type = careEventType(resource);
      const intakeId = eventIntakeId(clinicId, item.eventId);
      if (intakeIds.includes(intakeId)) continue;
      const receivedAt = now().toISOString();
      const delivery = await store.deliveries.recordDelivery({
        clinicId,
        ehrRequestId: intakeId,
        caseId: intakeId,
        requestId,
        receivedAt,
      });
      if (delivery.created) {
        await store.audit.appendAudit(
          eventReceivedAudit({
            clinicId,
            intakeId,
            requestId,
            receivedAt,
            detail: { form, type, eventId: item.eventId, resource, catchUpId },
          }),
        );
      }
      intakeIds.push(intakeId);
      const start: EventIntakeInput = {
        intakeId,
        clinicId,
        requestId,
        event: { type, eventId: item.eventId, resource, at: receivedAt },
        ...(triggers.policy ? { policy: triggers.policy } : {}),
      };
      try {
        await triggers.client.workflow.start('eventIntake', {
          taskQueue: triggers.taskQueue,
          workflowId: intakeId,
          args: [start],
          workflowIdConflictPolicy: 'USE_EXISTING',
          workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
          searchAttributes: { ClinicId: [clinicId] },
        });
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
    }
    return intakeIds;
  },
};
