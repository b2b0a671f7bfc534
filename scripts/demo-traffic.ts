// `npm run demo:traffic`: the sandbox EHR announces its pending refill requests to the running product, as signed
// webhooks (both contract forms), so the queues fill with a realistic mix. Reads the demo clinic's credentials from
// $DATA_DIR/demo-credentials.json (written by `npm start`). Options: --limit N, --concurrency N.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { MedicationRequest } from '@medplum/fhirtypes';
import type { JWK } from 'jose';
import { signWebhook } from '../api/middleware/webhook-signature.ts';
import { loadConfig } from '../connectors/config.ts';
import { createFhirConnector } from '../connectors/fhir/connector.ts';

const { values } = parseArgs({
  options: { limit: { type: 'string', default: '1000' }, concurrency: { type: 'string', default: '8' } },
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

// The EHR's pending refill requests: MedicationRequests in draft with intent proposal.
const { matches } = await fhir.search('MedicationRequest', { intent: 'proposal', status: 'draft', _count: 1000 });
const requests = matches.slice(0, Number(values.limit));
console.log(`sending ${requests.length} signed refill webhooks to ${api} (clinic ${creds.clinicId})…`);

const statuses: Record<string, number> = {};
let next = 0;
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
  const raw = JSON.stringify(body);
  const ts = Math.floor(Date.now() / 1000);
  const res = await fetch(`${api}/v1/webhooks/${creds.clinicId}/refill-requests`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-autopilot-timestamp': String(ts),
      'x-autopilot-signature': signWebhook(creds.webhookSecret, ts, raw),
    },
    body: raw,
  });
  statuses[res.status] = (statuses[res.status] ?? 0) + 1;
}
await Promise.all(
  Array.from({ length: Number(values.concurrency) }, async () => {
    while (next < requests.length) {
      const i = next++;
      await send(requests[i]!, i);
    }
  }),
);
console.log('webhook answers:', statuses);

// Give the workflows a moment, then show the queues.
await new Promise((r) => setTimeout(r, 3000));
const res = await fetch(`${api}/v1/queues/nurse/cases?limit=1`, {
  headers: { authorization: `Bearer ${creds.tokens.admin}` },
});
const { counts } = (await res.json()) as { counts: Record<string, number> };
console.log('open cases per queue:', counts, `— open ${api}/ and sign in with a token printed by npm start`);
