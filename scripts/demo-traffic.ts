// `npm run demo:traffic`: the sandbox EHR announces its pending refill requests to the running product, as signed
// webhooks (both contract forms), then books visits and posts stool-test results for its care-gap patients and
// announces those on the events webhook, so the queues fill with a realistic mix of both kinds. Reads the demo
// clinic's credentials from $DATA_DIR/demo-credentials.json (written by `npm start`).
// Options: --limit N (refill requests), --care-gaps N (care-gap patients), --concurrency N, --decide (then the demo
// clinicians work the refill queues: scripts/demo-decisions.ts), --policy doctor|delegated|standing_order (first sets
// the demo clinic's signing policy for its refill protocol; delegated names pharmacists and PAs).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Appointment, MedicationRequest, Observation, Patient } from '@medplum/fhirtypes';
import type { JWK } from 'jose';
import { signedWebhookHeaders } from '../api/middleware/webhook-signature.ts';
import { loadConfig } from '../connectors/config.ts';
import { createFhirConnector } from '../connectors/fhir/connector.ts';
import { decideDemoQueues } from './demo-decisions.ts';

const { values } = parseArgs({
  options: {
    limit: { type: 'string', default: '1000' },
    'care-gaps': { type: 'string', default: '40' },
    concurrency: { type: 'string', default: '8' },
    decide: { type: 'boolean', default: false },
    policy: { type: 'string' },
  },
});
const config = loadConfig();
const creds = JSON.parse(readFileSync(join(config.DATA_DIR, 'demo-credentials.json'), 'utf8')) as {
  clinicId: string;
  webhookSecret: string;
  fhirClientId: string;
  privateJwk: JWK;
  tokens: Record<string, string>;
};
const api = `http://127.0.0.1:${config.PORT}`;
const fhir = createFhirConnector({
  baseUrl: `http://127.0.0.1:${config.SANDBOX_PORT}/fhir/R4`,
  timeoutMs: 20_000,
  auth: { clientId: creds.fhirClientId, privateKeyJwk: creds.privateJwk },
});

if (values.policy !== undefined) {
  const mode = values.policy;
  const body = {
    mode,
    ...(mode === 'delegated' ? { delegates: ['pharmacist', 'pa'] } : {}),
    ...(mode === 'doctor' ? {} : { authority: { reference: null, display: 'Demo Family Medicine medical director' } }),
  };
  const res = await fetch(`${api}/v1/clinics/${creds.clinicId}/signing-policy/family-medicine-2015`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${creds.tokens.admin}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`setting the signing policy: ${res.status} ${await res.text()}`);
  console.log(`signing policy of the demo clinic's refill protocol: ${mode}`);
}

// The EHR's pending refill requests: MedicationRequests in draft with intent proposal.
const { matches } = await fhir.search('MedicationRequest', { intent: 'proposal', status: 'draft', _count: 1000 });
const requests = matches.slice(0, Number(values.limit));
console.log(`sending ${requests.length} signed refill webhooks to ${api} (clinic ${creds.clinicId})…`);

/** POSTs a body to a webhook of the demo clinic, signed as every webhook of the contract is; returns the status. */
async function postSigned(path: 'refill-requests' | 'events', body: unknown): Promise<number> {
  const raw = JSON.stringify(body);
  const res = await fetch(`${api}/v1/webhooks/${creds.clinicId}/${path}`, {
    method: 'POST',
    headers: signedWebhookHeaders(creds.webhookSecret, raw),
    body: raw,
  });
  await res.body?.cancel();
  return res.status;
}

/** Runs `task` over `items` with the configured concurrency. */
async function pool<T>(items: readonly T[], task: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Number(values.concurrency) }, async () => {
      while (next < items.length) {
        const i = next++;
        await task(items[i]!, i);
      }
    }),
  );
}

const statuses: Record<string, number> = {};
async function send(mr: MedicationRequest, i: number): Promise<void> {
  // Alternate the two contract forms: the plain event and the FHIR Subscription notification (id-only).
  const body =
    i % 2 === 0
      ? { type: 'refill.requested', id: `evt-${mr.id}`, medicationRequest: `MedicationRequest/${mr.id}` }
      : {
          resourceType: 'Bundle',
          type: 'history',
          timestamp: new Date().toISOString(),
          entry: [
            {
              resource: {
                resourceType: 'Parameters',
                parameter: [
                  { name: 'type', valueCode: 'event-notification' },
                  {
                    name: 'notification-event',
                    part: [{ name: 'focus', valueReference: { reference: `MedicationRequest/${mr.id}` } }],
                  },
                ],
              },
            },
          ],
        };
  const status = await postSigned('refill-requests', body);
  statuses[status] = (statuses[status] ?? 0) + 1;
}
await pool(requests, send);
console.log('refill webhook answers:', statuses);

// Care gaps: the synthetic clinic's colorectal-screening patients (ids `pat-cg-…`). Every other one gets a visit
// booked (pre-visit planning); the rest get a FIT result (one in five positive), each announced on the events webhook.
const today = new Date().toISOString().slice(0, 10);
const patients = (await fhir.search('Patient', { _count: 1000 })).matches
  .filter((p) => p.id?.startsWith('pat-cg-'))
  .sort((a, b) => (a.id ?? '').localeCompare(b.id ?? ''))
  .slice(0, Number(values['care-gaps']));
const DEMO = 'urn:ehr-autopilot:demo-traffic';
const eventStatuses: Record<string, number> = {};
let booked = 0;
let results = 0;
async function careGap(patient: Patient, i: number): Promise<void> {
  const subject = { reference: `Patient/${patient.id ?? ''}` };
  let event: Record<string, string>;
  if (i % 2 === 0) {
    const pcp = patient.generalPractitioner?.find((g) => g.reference?.startsWith('Practitioner/'))?.reference;
    const day = new Date(Date.now() + (3 + (i % 28)) * 86_400_000).toISOString().slice(0, 10);
    const appointment: Appointment = {
      resourceType: 'Appointment',
      identifier: [{ system: DEMO, value: `appt-${patient.id ?? ''}-${today}` }],
      status: 'booked',
      description: 'Annual preventive visit',
      start: `${day}T15:00:00Z`,
      end: `${day}T15:30:00Z`,
      participant: [
        { actor: subject, status: 'accepted' },
        ...(pcp ? [{ actor: { reference: pcp }, status: 'accepted' as const }] : []),
      ],
    };
    const { resource } = await fhir.create(appointment, {
      ifNoneExist: `identifier=${DEMO}|appt-${patient.id ?? ''}-${today}`,
    });
    booked++;
    event = {
      type: 'appointment.booked',
      id: `evt-appt-${resource.id ?? ''}`,
      appointment: `Appointment/${resource.id ?? ''}`,
    };
  } else {
    const positive = i % 10 === 1;
    const observation: Observation = {
      resourceType: 'Observation',
      identifier: [{ system: DEMO, value: `fit-${patient.id ?? ''}-${today}` }],
      status: 'final',
      category: [
        {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/observation-category',
              code: 'laboratory',
              display: 'Laboratory',
            },
          ],
        },
      ],
      code: {
        coding: [
          {
            system: 'http://loinc.org',
            code: '29771-3',
            display: 'Hemoglobin.gastrointestinal.lower [Presence] in Stool by Immunoassay',
          },
        ],
        text: 'FIT',
      },
      subject,
      effectiveDateTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      interpretation: [
        {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation',
              code: positive ? 'POS' : 'NEG',
              display: positive ? 'Positive' : 'Negative',
            },
          ],
        },
      ],
    };
    const { resource } = await fhir.create(observation, {
      ifNoneExist: `identifier=${DEMO}|fit-${patient.id ?? ''}-${today}`,
    });
    results++;
    event = {
      type: 'result.available',
      id: `evt-obs-${resource.id ?? ''}`,
      resource: `Observation/${resource.id ?? ''}`,
    };
  }
  const status = await postSigned('events', event);
  eventStatuses[status] = (eventStatuses[status] ?? 0) + 1;
}
await pool(patients, careGap);
console.log(`booked ${booked} visits and posted ${results} FIT results; events webhook answers:`, eventStatuses);

// Give the workflows a moment, then show the queues.
await new Promise((r) => setTimeout(r, 3000));
if (values.decide) {
  const taken = await decideDemoQueues({ api, tokens: creds.tokens, kind: 'refill' });
  console.log('clinician decisions (role action: count):', taken);
}
const res = await fetch(`${api}/v1/queues/nurse/cases?limit=1`, {
  headers: { authorization: `Bearer ${creds.tokens.admin}` },
});
const { counts } = (await res.json()) as { counts: Record<string, number> };
console.log('open cases per queue:', counts, `— open ${api}/ and sign in with a token printed by npm start`);
