// The registry of each kind's pure facts extraction from an uploaded FHIR Bundle: the ONE facts file that names the
// kinds. The API (simulating uploaded bundles) and the CLI (`evaluate`, `protocols simulate --bundles`) ask it for a
// kind's extraction instead of naming the kind. Adding a kind adds its facts/<k>/ and one line below.
import { AppError } from '../rules/errors.ts';
import { careGapKind } from '../rules/kinds/care-gap/index.ts';
import type { KindId } from '../rules/kinds/index.ts';
import { refillKind } from '../rules/kinds/refill/index.ts';
import { careGapFactsFromBundle } from './care-gap/index.ts';
import { extractRefillFacts, patientRecordFromBundle } from './refill/index.ts';

export interface BundleFactsOptions {
  /** The protocol's "today", YYYY-MM-DD. */
  asOf: string;
  /** The patient to evaluate when the bundle holds several (kinds whose subject is a patient). */
  patientId?: string;
}

/** How a kind reads its facts from a bundle. */
export interface BundleExtraction {
  /**
   * The kind's facts from one FHIR Bundle as of a date.
   *
   * @throws AppError `INVALID_INPUT` with the JSON path of the first problem (not a Bundle, not this kind's input).
   */
  facts(bundle: unknown, opts: BundleFactsOptions): unknown;
  /** Whether `patientId` picks one of several patients; absent: a bundle holds one patient and `patientId` is refused. */
  patientChoice?: boolean;
}

/** Every kind's bundle extraction, by kind id. */
export const BUNDLE_EXTRACTIONS: Readonly<Record<KindId, BundleExtraction>> = {
  // One refill request of one patient: the request picks the patient.
  [refillKind.id]: { facts: (bundle, { asOf }) => extractRefillFacts(patientRecordFromBundle(bundle), { asOf }) },
  [careGapKind.id]: {
    facts: (bundle, { asOf, patientId }) =>
      careGapFactsFromBundle(bundle, { asOf, ...(patientId !== undefined && { patientId }) }),
    patientChoice: true,
  },
};

/** A kind's bundle extraction; undefined when the kind has none. */
export function bundleExtraction(kind: KindId): BundleExtraction | undefined {
  return Object.hasOwn(BUNDLE_EXTRACTIONS, kind) ? BUNDLE_EXTRACTIONS[kind] : undefined;
}

/**
 * A kind's facts from one uploaded FHIR Bundle (what the API's bundle simulation and the CLI run).
 *
 * @throws AppError `INVALID_INPUT`: the bundle is not this kind's input (its JSON path), or a `patientId` for a kind
 *   whose bundles hold one patient; `UNPROCESSABLE`: the kind has no bundle extraction.
 */
export function factsFromBundle(kind: KindId, bundle: unknown, opts: BundleFactsOptions): unknown {
  const extraction = bundleExtraction(kind);
  if (!extraction) throw new AppError('UNPROCESSABLE', `protocols of kind ${kind} cannot read FHIR Bundles`);
  if (opts.patientId !== undefined && !extraction.patientChoice) {
    throw new AppError('INVALID_INPUT', `a ${kind} bundle holds one patient: no patient id is taken`);
  }
  return extraction.facts(bundle, opts);
}
