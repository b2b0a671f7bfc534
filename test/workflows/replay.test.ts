// Cases outlive deployments: a refill waits days for a clinician, and whenever a worker restarts (or evicts a cached
// workflow) the workflow code running then replays the case's whole history. These histories were recorded by
// scripts/record-histories.ts from real stacks of earlier commits (refill-1f095be: before the lean triage of issue 11;
// refill-lean: the lean triage, before its EHR calls were tried first in the worker; refill-first-try,
// refill-first-queue, refill-first-triage: each later step of issue 11) and of today's code (refill-first-route: the
// first queue entered inside triageFirst); every one must replay under today's workflow code without a
// nondeterminism error.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { describe, expect, test } from 'vitest';
import { loadConfig } from '../../connectors/config.ts';
import { workerDataConverter } from '../../connectors/temporal.ts';
import { testWorkflowBundle } from '../helpers/temporal.ts';

const DIR = fileURLToPath(new URL('../fixtures/histories/', import.meta.url));
const sets = readdirSync(DIR, { withFileTypes: true }).filter((d) => d.isDirectory());

describe.each(sets.map((d) => d.name))('histories recorded by %s', (name) => {
  const dir = join(DIR, name);
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  const key = readFileSync(join(dir, 'payload.key'), 'utf8').trim();

  test(`all ${files.length} replay under today's workflow code`, async () => {
    expect(files.length).toBeGreaterThan(5);
    const histories = files.map((f) => {
      const history = historyFromJSON(JSON.parse(readFileSync(join(dir, f), 'utf8')));
      const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
      expect(started?.workflowType?.name).toBe('refillTriage');
      return { workflowId: f, history };
    });
    const results = Worker.runReplayHistories(
      {
        workflowBundle: await testWorkflowBundle(),
        dataConverter: workerDataConverter(loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', PAYLOAD_KEY: key })),
      },
      histories,
    );
    const errors: string[] = [];
    let replayed = 0;
    for await (const result of results) {
      replayed += 1;
      if (result.error) errors.push(`${result.workflowId}: ${String(result.error)}`);
    }
    expect(errors).toEqual([]);
    expect(replayed).toBe(files.length);
    // The set covers cases still waiting and cases a clinician closed.
    const closed = histories.filter((h) =>
      h.history.events?.some(
        (e) =>
          e.workflowExecutionCompletedEventAttributes !== undefined &&
          e.workflowExecutionCompletedEventAttributes !== null,
      ),
    ).length;
    expect(closed).toBeGreaterThan(0);
    expect(closed).toBeLessThan(files.length);
  });
});
