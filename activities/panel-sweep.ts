import { createHash } from 'node:crypto';
import { formatISO, parseISO, subMonths } from 'date-fns';
import type { Store } from '../connectors/db/index.ts';
import type { ClinicFhir } from '../connectors/fhir/clinic-connectors.ts';
import { patientOfFocus } from './triggers.ts';

/** How far back a finished Encounter attributes a patient to the clinic's panel. */
const ATTRIBUTION_MONTHS = 24;

export interface PanelPageInput {
  clinicId: string;
  sweepId: string;
  requestId: string;
  /** YYYY-MM-DD: the sweep's "today". */
  asOf: string;
  /** The previous page's `next` link; null for the first page. */
  next: string | null;
  pageSize: number;
}

interface PanelPage {
  /** The attribution window's first day (asOf − 24 calendar months, day clamped). */
  since: string;
  encounters: number;
  /**
   * Distinct patients of this page, in the EHR's order (by patient); `key` is an opaque hash. The search is sorted
   * by patient, so a patient spans pages only from the end of one to the start of the next: the workflow dedupes on
   * the previous page's last key alone.
   */
  patients: { id: string; key: string }[];
  next: string | null;
}

/**
 * One page of the clinic's attributed panel: `Encounter?status=finished&date=ge{asOf − 24 months}&_sort=patient`,
 * reduced to the distinct patients on it. Sorted by patient so that each patient's encounters are adjacent: the sweep
 * needs no growing set of the patients seen, whatever the panel's size. Read-only, safe to retry (the page is named by
 * the EHR's own `next` link). Audited per page with counts only.
 */
export async function panelPage(
  { store, fhir }: { store: Store; fhir: ClinicFhir },
  input: PanelPageInput,
): Promise<PanelPage> {
  const since = formatISO(subMonths(parseISO(input.asOf), ATTRIBUTION_MONTHS), { representation: 'date' });
  return fhir.withRequestId(input.requestId, async () => {
    const connector = await fhir.forClinic(input.clinicId);
    const page = await connector.searchPage(
      'Encounter',
      input.next === null
        ? { params: { status: 'finished', date: `ge${since}`, _sort: 'patient', _count: input.pageSize } }
        : { next: input.next },
    );
    const patients = new Map<string, string>();
    for (const encounter of page.matches) {
      const id = patientOfFocus(encounter as unknown as Record<string, unknown>);
      if (id !== null && !patients.has(id)) {
        patients.set(id, createHash('sha256').update(id).digest('hex').slice(0, 16));
      }
    }
    await store.audit.appendAudit({
      actorType: 'system',
      actorId: 'worker',
      action: 'ehr.panel_page_read',
      clinicId: input.clinicId,
      requestId: input.requestId,
      idempotencyKey: `${input.sweepId}:panel_page:${createHash('sha256')
        .update(input.next ?? '')
        .digest('hex')
        .slice(0, 32)}`,
      detail: { sweepId: input.sweepId, encounters: page.matches.length, patients: patients.size },
    });
    return {
      since,
      encounters: page.matches.length,
      patients: [...patients].map(([id, key]) => ({ id, key })),
      next: page.next,
    };
  });
}
