// The care-gap kind's part of the API: no webhook of its own (events and sweeps are engine triggers that ask the
// kind registry), but the Signal its patient cases take events with, the Update its clinician actions go through and
// the Query that reads a case's state; and its CDS Hooks service (`appointment-book`, ./cds.ts).
import { careGapKind } from '../../../rules/kinds/care-gap/index.ts';
import { careGapActionUpdate, careGapEventSignal, getCareGapStateQuery } from '../../../workflows/care-gap-messages.ts';
import type { KindApi } from '../types.ts';
import { careGapCdsService } from './cds.ts';

export const careGapApi: KindApi = {
  kind: careGapKind.id,
  triggers: [],
  caseSignal: careGapEventSignal as KindApi['caseSignal'],
  actionUpdate: careGapActionUpdate as KindApi['actionUpdate'],
  stateQuery: getCareGapStateQuery,
  cdsServices: [careGapCdsService],
};
