// Records refill-triage workflow histories for the replay test (test/workflows/replay.test.ts): starts the stack of the
// checkout it runs in (scripts/bench-stack.ts, as `npm start` does), sends signed refill webhooks like an EHR, works
// the queues as the demo does (signs, approvals, denials, escalations), waits for the workflows to settle and writes
// each case's history (JSON, payloads encrypted as the worker wrote them) and the stack's payload key to --out.
//
// Run it in a checkout of an older commit to keep histories that the current workflow code must replay: a case
// started before a workflow change is replayed by the new code whenever a worker restarts or evicts it.
//   npx tsx scripts/record-histories.ts --out test/fixtures/histories/<name> [--requests 12]
// Synthetic patients only; the key is a throwaway generated for the run.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { signedWebhookHeaders } from '../api/middleware/webhook-signature.ts';
import { loadConfig } from '../connectors/config.ts';
import { createStore, openDatabase } from '../connectors/db/index.ts';
import { createTemporalClient } from '../connectors/temporal.ts';
import { generateClinic } from '../sandbox/synthetic/index.ts';
import { startBenchStack } from './bench-stack.ts';
import { decideDemoQueues } from './demo-decisions.ts';

const { values } = parseArgs({
  options: { out: { type: 'string' }, requests: { type: 'string', default: '12' } },
});
if (!values.out) throw new Error('--out <dir> is required');
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const stack = await startBenchStack({ root: ROOT, env: { SANDBOX_PATIENTS: '60' } });
try {
  const creds = JSON.parse(readFileSync(join(stack.dir, 'demo-credentials.json'), 'utf8')) as {
    webhookSecret: string;
    tokens: Record<string, string>;
  };
  const key = readFileSync(join(stack.dir, 'payload.key'), 'utf8').trim();
  const config = loadConfig({ ...stack.env, PAYLOAD_KEY: key });
  const db = await openDatabase({ dataDir: stack.dir });
  const store = createStore(db);
  const client = await createTemporalClient(config);
  const requests = generateClinic({
    seed: config.SANDBOX_SEED,
    patients: 60,
    asOf: new Date().toISOString().slice(0, 10),
  }).refillRequests.slice(0, Number(values.requests));
  const caseIds: string[] = [];
  const post = async (r: { medicationRequestId: string }) => {
    const raw = JSON.stringify({
      type: 'refill.requested',
      id: `evt-${r.medicationRequestId}`,
      medicationRequest: `MedicationRequest/${r.medicationRequestId}`,
    });
    const res = await fetch(`${stack.api}/v1/webhooks/demo/refill-requests`, {
      method: 'POST',
      headers: signedWebhookHeaders(creds.webhookSecret, raw),
      body: raw,
    });
    if (res.status !== 202) throw new Error(`webhook answered ${res.status}: ${await res.text()}`);
    caseIds.push(((await res.json()) as { caseId: string }).caseId);
  };
  const settled = async () => {
    for (let i = 0; i < 300; i += 1) {
      const cases = await Promise.all(caseIds.map((id) => store.cases.getCase(id)));
      if (cases.every((c) => c && (c.status === 'queued' || c.status === 'closed'))) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error('the cases did not settle');
  };
  // The first half worked as the demo does (signed, denied, escalated…), the second half left waiting: both kinds
  // of history get replayed.
  const half = Math.ceil(requests.length / 2);
  for (const r of requests.slice(0, half)) await post(r);
  await settled();
  await decideDemoQueues({ api: stack.api, tokens: creds.tokens, kind: 'refill', rounds: 2 });
  await new Promise((r) => setTimeout(r, 3000));
  for (const r of requests.slice(half)) await post(r);
  await settled();
  mkdirSync(values.out, { recursive: true });
  for (const [i, id] of caseIds.entries()) {
    const history = await client.client.workflow.getHandle(id).fetchHistory();
    writeFileSync(join(values.out, `case-${String(i).padStart(2, '0')}.json`), historyToJSON(history) + '\n');
  }
  writeFileSync(join(values.out, 'payload.key'), key + '\n');
  const outcomes = await Promise.all(caseIds.map((id) => store.cases.getCase(id)));
  console.log(outcomes.map((c) => `${c!.status}/${c!.queue ?? '-'}`).join(' '));
  await client.close();
  await db.close();
} finally {
  await stack.stop();
}
