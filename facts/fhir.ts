import type { CodeableConcept, Coding, Extension, Reference } from '@medplum/fhirtypes';

/** `Type/id` of a reference (relative, absolute URL, or already normalised by patientRecordFromBundle). */
export function refKey(ref: Reference | undefined): string | undefined {
  const m = ref?.reference?.match(/([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/);
  return m ? `${m[1]}/${m[2]}` : undefined;
}

export const keyOf = (r: { resourceType: string; id?: string }): string => `${r.resourceType}/${r.id ?? ''}`;

export function codings(concepts: (CodeableConcept | undefined)[] | CodeableConcept | undefined): Coding[] {
  const list = Array.isArray(concepts) ? concepts : [concepts];
  return list.flatMap((c) => c?.coding ?? []);
}

export function hasCode(
  concepts: (CodeableConcept | undefined)[] | CodeableConcept | undefined,
  system: string,
  codes: readonly string[],
): boolean {
  return codings(concepts).some((c) => c.system === system && c.code !== undefined && codes.includes(c.code));
}

/** All human-readable text of concepts: `text` and every coding's `display`. */
export function texts(concepts: (CodeableConcept | undefined)[] | CodeableConcept | undefined): string[] {
  const list = Array.isArray(concepts) ? concepts : [concepts];
  return list.flatMap((c) => [c?.text, ...(c?.coding ?? []).map((x) => x.display)]).filter((t): t is string => !!t);
}

/** The calendar date of a FHIR date/dateTime as recorded (`2026-03-02T09:00:00-05:00` → `2026-03-02`). */
export function dateOf(value: string | undefined): string | undefined {
  return value && /^\d{4}-\d{2}-\d{2}/.test(value) ? value.slice(0, 10) : undefined;
}

export function extensionValue(extensions: Extension[] | undefined, url: string): string | undefined {
  const ext = extensions?.find((e) => e.url === url);
  return ext?.valueCode ?? ext?.valueString ?? ext?.valueCoding?.code;
}
