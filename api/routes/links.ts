import { publicUrl, type Config } from '../../connectors/config.ts';

/** Links a client follows from a case. */
export function caseLinks(config: Config, caseId: string): { self: string; timeline: string } {
  const self = `${publicUrl(config)}/v1/cases/${encodeURIComponent(caseId)}`;
  return { self, timeline: `${self}#timeline` };
}
