// How a care-gap case starts: signal-with-start of the patient's `careGap` workflow (case id
// `cg_{clinicId}_{protocolId}_{subjectKey}`), for the event intake and the panel sweep (activities/triggers.ts).
import { careGapKind } from '../../../rules/kinds/care-gap/index.ts';
import type { careGap, CareGapEvent, CareGapInput } from '../../../workflows/care-gap.ts';
import { pool } from '../../pool.ts';
import type { PatientCaseStarter } from '../../triggers.ts';

export const careGapCaseStarter: PatientCaseStarter = {
  kind: careGapKind.id,
  async start(triggers, input) {
    const starts: CareGapInput[] = input.patientIds.map((patientId) => ({
      caseId: careGapCaseId(input.clinicId, input.protocolId, triggers.subjectKey(input.clinicId, patientId)),
      clinicId: input.clinicId,
      protocolId: input.protocolId,
      patientId,
      requestId: input.requestId,
      ...(triggers.policy ? { policy: triggers.policy } : {}),
    }));
    await pool(starts, input.concurrency, async (start) => {
      await triggers.client.workflow.signalWithStart<typeof careGap, [CareGapEvent]>(careGapKind.workflowType, {
        taskQueue: triggers.taskQueue,
        workflowId: start.caseId,
        args: [start],
        signal: 'careGapEvent',
        signalArgs: [input.event],
        searchAttributes: { ClinicId: [start.clinicId], ProtocolId: [start.protocolId] },
      });
    });
    return starts.map((s) => s.caseId);
  },
};

/**
 * Workflow id (= case id) of a care gap: one per patient per protocol at a clinic. `subjectKey` is the opaque key of
 * the patient (connectors/subject-key.ts), never the patient's id: workflow ids are not encrypted.
 */
export function careGapCaseId(clinicId: string, protocolId: string, subjectKey: string): string {
  return `cg_${clinicId}_${protocolId}_${subjectKey}`;
}
