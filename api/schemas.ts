import { z } from '@hono/zod-openapi';
import { ID_PATTERN } from '../connectors/db/clinics.ts';

// Request schemas several routes share. Each constraint the API enforces is here, in zod, so that /openapi.json
// declares exactly what the code accepts (test/api/contract.test.ts holds the two to each other).

/** A clinic or protocol id (`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`). */
export const Id = z
  .string()
  .regex(ID_PATTERN, 'letters, digits, . _ - (max 128)')
  .openapi({ example: 'family-medicine-2015' });

/**
 * An IANA time zone, as an enum of the zones this runtime knows (`Intl.supportedValuesOf('timeZone')`, plus `UTC`).
 * An enum rather than a check against `Intl.DateTimeFormat`: the document then lists exactly what is accepted.
 * Aliases the runtime resolves but does not list (`US/Eastern`, and on some ICU versions the newer spelling of a
 * renamed zone) are refused: use the listed name.
 */
export const TIME_ZONES: readonly [string, ...string[]] = [
  ...new Set(['UTC', ...Intl.supportedValuesOf('timeZone')]),
].sort() as [string, ...string[]];
export const TimeZone = z.enum(TIME_ZONES).openapi({ example: 'America/Chicago' });

/**
 * An instant with an offset, in the form zod's `z.iso.datetime({ offset: true })` accepts: RFC 3339 with an upper-case
 * `T` and `Z`, seconds 00–59, optional fraction. The pattern narrows the document's `date-time` to exactly that.
 */
export const IsoInstant = z.iso.datetime({ offset: true }).openapi({
  pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z|[+-]\\d{2}:\\d{2})$',
  example: '2026-01-31T09:30:00Z',
});

/**
 * A case id: `rf_<clinic id>_<MedicationRequest id>` (a refill, workflows/refill-triage-messages.ts `refillCaseId`) or
 * `cg_<clinic id>_<protocol id>_<32 hex subject key>` (a care gap, `careGapCaseId`).
 */
export const CaseId = z
  .string()
  .regex(
    /^(?:rf_[A-Za-z0-9][A-Za-z0-9._-]{0,127}_[A-Za-z0-9.-]{1,64}|cg_[A-Za-z0-9][A-Za-z0-9._-]{0,127}_[A-Za-z0-9][A-Za-z0-9._-]{0,127}_[0-9a-f]{32})$/,
    'not a case id (rf_<clinic>_<request> or cg_<clinic>_<protocol>_<subject key>)',
  )
  .openapi({ example: 'rf_demo-clinic_mr-0001-req' });

/**
 * JSON Schema 2020-12 keywords zod has no method for (`dependentRequired`, `dependentSchemas`, `oneOf` on an object),
 * for `.openapi()`. Each use sits next to the refine that enforces the same rule in code.
 */
export const keywords = (k: Record<string, unknown>): never => k as never;
