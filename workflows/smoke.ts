// Smoke workflows: the plumbing (worker, server, codec) without any clinical logic.
import { ApplicationFailure, proxyActivities } from '@temporalio/workflow';

/**
 * Does nothing but return its input. The cheapest possible workflow: the harness's smoke test, and the ceiling a
 * throughput benchmark of the real workflows is measured against.
 */
export async function emptyWorkflow(input: { n: number }): Promise<number> {
  return Promise.resolve(input.n);
}

/** The activity {@link echoWorkflow} calls; the test worker registers an implementation. */
export interface EchoActivities {
  echoActivity(text: string): Promise<string>;
}

const { echoActivity } = proxyActivities<EchoActivities>({
  startToCloseTimeout: '10 seconds',
  retry: { maximumAttempts: 1 },
});

/**
 * Sends `text` through an activity and back, or fails with `text` in the failure message (`fail: 'workflow'`), or
 * lets the activity fail with it (`fail: 'activity'`). Why: proves every place a value lands in history (input,
 * activity input and result, workflow result, failure messages) goes through the payload codec.
 */
export async function echoWorkflow(input: { text: string; fail?: 'workflow' | 'activity' }): Promise<string> {
  const echoed = await echoActivity(input.fail === 'activity' ? `fail:${input.text}` : input.text);
  if (input.fail === 'workflow') throw ApplicationFailure.nonRetryable(`cannot process ${input.text}`, 'SmokeFailure');
  return echoed;
}
