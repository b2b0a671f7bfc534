import { condition, setHandler } from '@temporalio/workflow';
import { careGapEventSignal, type CareGapEvent, type CareGapInput } from './care-gap-messages.ts';

export type { CareGapEvent, CareGapInput } from './care-gap-messages.ts';

/**
 * A patient's care gap for one protocol (skeleton: the input and the `careGapEvent` signal are final; the body lands
 * in the following commits).
 */
export async function careGap(input: CareGapInput): Promise<void> {
  const events: CareGapEvent[] = [];
  setHandler(careGapEventSignal, (e) => {
    events.push(e);
  });
  void input;
  await condition(() => false);
}
