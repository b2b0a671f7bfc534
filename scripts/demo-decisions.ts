// The clinicians of the demo clinic at work (`npm run demo:traffic -- --decide`): nurses, pharmacists, PAs and doctors
// work the refill queues through the API, as the console would, with a realistic share of decisions that override
// the protocol (a denied protocol approval, an approved needs-visit). Deterministic: the same queues get the same
// decisions, so the analytics page shows the same numbers after every demo run.
import { createHash } from 'node:crypto';

/** A queue's page as GET /v1/queues/{queue}/cases answers it (only the fields the demo reads). */
interface QueueItem {
  caseId: string;
  kind: string;
  disposition: string | null;
  reason: string | null;
  queue: string | null;
}

type Action = 'approve' | 'deny' | 'needs_visit' | 'escalate';

/** A decision as a share of the cases it applies to, by a deterministic draw in [0, 100). */
type Mix = readonly (readonly [Action, number])[];

/**
 * Who works each refill queue and how. `roles` are tried in order for each case (a delegate the clinic's signing
 * policy does not allow, or who may not sign a controlled substance, is refused with 403 and the next role signs).
 */
const QUEUE_WORK: Record<string, { roles: readonly string[]; mix: (item: QueueItem) => Mix }> = {
  nurse: {
    roles: ['nurse', 'pharmacist'],
    mix: (item) =>
      item.disposition === 'needs_visit'
        ? [
            ['needs_visit', 85],
            ['approve', 10], // an override: a bridge supply despite the missing visit
            ['escalate', 5],
          ]
        : [
            ['approve', 75],
            ['deny', 10],
            ['escalate', 15],
          ],
  },
  signature: {
    roles: ['pharmacist', 'pa', 'nurse', 'doctor'],
    mix: () => [
      ['approve', 92],
      ['deny', 5], // an override: the protocol approved it
      ['needs_visit', 3],
    ],
  },
  doctor: {
    roles: ['pa', 'doctor'],
    mix: () => [
      ['approve', 70],
      ['needs_visit', 15],
      ['deny', 15],
    ],
  },
  cosign: {
    roles: ['doctor'],
    mix: () => [
      ['approve', 97],
      ['deny', 3],
    ],
  },
};

/** A stable draw in [0, 100) per case and round. */
function draw(caseId: string, round: number): number {
  return createHash('sha256').update(`${caseId}:${round}`).digest().readUInt32BE(0) % 100;
}

function pick(mix: Mix, at: number): Action {
  let sum = 0;
  for (const [action, share] of mix) {
    sum += share;
    if (at < sum) return action;
  }
  return mix[mix.length - 1]![0];
}

/**
 * Works the demo clinic's refill queues until they are empty or `rounds` passes have run (an escalation or a
 * nurse's approval moves a case to another queue, which a later pass works). Answers the decisions taken, by role
 * and action.
 */
export async function decideDemoQueues(opts: {
  api: string;
  tokens: Record<string, string>;
  kind: string;
  rounds?: number;
}): Promise<Record<string, number>> {
  const { api, tokens } = opts;
  const taken: Record<string, number> = {};
  const get = async (path: string, token: string): Promise<unknown> => {
    const res = await fetch(`${api}${path}`, { headers: { authorization: `Bearer ${token}` } });
    if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  for (let round = 0; round < (opts.rounds ?? 6); round++) {
    let decided = 0;
    for (const [queue, work] of Object.entries(QUEUE_WORK)) {
      const reader = tokens.admin!;
      const items: QueueItem[] = [];
      for (let cursor: string | null = null, first = true; first || cursor; first = false) {
        const page = (await get(
          `/v1/queues/${queue}/cases?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
          reader,
        )) as { items: QueueItem[]; nextCursor: string | null };
        items.push(...page.items.filter((i) => i.kind === opts.kind));
        cursor = page.nextCursor;
      }
      for (const item of items) {
        const action = pick(work.mix(item), draw(item.caseId, round));
        for (const role of work.roles) {
          const token = tokens[role];
          if (!token) continue;
          const res = await fetch(`${api}/v1/cases/${encodeURIComponent(item.caseId)}/decision`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${token}`,
              'content-type': 'application/json',
              'idempotency-key': `demo-${createHash('sha256').update(`${item.caseId}:${round}:${role}`).digest('hex').slice(0, 32)}`,
            },
            body: JSON.stringify({ action }),
          });
          await res.body?.cancel();
          if (res.status === 403) continue;
          if (res.status === 200) {
            taken[`${role} ${action}`] = (taken[`${role} ${action}`] ?? 0) + 1;
            decided++;
          }
          break;
        }
      }
    }
    if (decided === 0) break;
    // Let the workflows write back and move the cases (an escalation, a pended draft) before the next pass.
    await new Promise((r) => setTimeout(r, 2000));
  }
  return taken;
}
