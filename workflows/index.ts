// workflowsPath entry: named re-exports of every workflow (the function name is the workflow type on the wire).
export { echoWorkflow, emptyWorkflow } from './smoke.ts';
export { careGap } from './care-gap.ts';
export { refillTriage } from './refill-triage.ts';
export { simulationJob } from './simulation.ts';
export { eventIntake } from './event-intake.ts';
export { panelSweep } from './panel-sweep.ts';
export { subscriptionCatchUp } from './subscription-catch-up.ts';
