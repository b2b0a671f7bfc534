import { z } from '@hono/zod-openapi';
import type { Clinic } from '../connectors/db/index.ts';
import type { ApiDeps } from './deps.ts';

// CDS Hooks 2.0 (https://cds-hooks.hl7.org/2.0/): the shapes a kind's CDS service (api/kinds/<k>/cds.ts) and the
// engine's routes (api/routes/cds-hooks.ts) share.

const Coding = z.object({ system: z.string().optional(), code: z.string(), display: z.string().optional() });

export const CdsCardSchema = z
  .object({
    uuid: z.string(),
    summary: z.string().max(140),
    detail: z.string().optional(),
    indicator: z.enum(['info', 'warning', 'critical']),
    /** `topic`: the protocol that decided (`code` = protocol id, `version` in `display`). */
    source: z.object({ label: z.string(), url: z.string().optional(), topic: Coding.optional() }),
    suggestions: z
      .array(
        z.object({
          label: z.string(),
          uuid: z.string().optional(),
          isRecommended: z.boolean().optional(),
          actions: z.array(
            z.object({
              type: z.enum(['create', 'update', 'delete']),
              description: z.string(),
              resource: z.record(z.string(), z.unknown()).optional(),
            }),
          ),
        }),
      )
      .optional(),
    selectionBehavior: z.enum(['at-most-one', 'any']).optional(),
    overrideReasons: z.array(Coding).optional(),
    /** ehr-autopilot's own: the protocol id and version and the disposition (CDS Hooks extensions are free JSON). */
    extension: z.object({
      protocol: z.object({ id: z.string(), version: z.number().int() }),
      disposition: z.string(),
    }),
  })
  .openapi('CdsCard');
export type CdsCard = z.infer<typeof CdsCardSchema>;

/** What a service gets: the hook's context, the prefetch (templates the EHR left out already fetched), the clinic. */
export interface CdsRequest {
  clinic: Clinic;
  hookInstance: string;
  context: Record<string, unknown>;
  /** By prefetch key: a FHIR resource (or searchset Bundle); null where the EHR found nothing. */
  prefetch: Record<string, unknown>;
  requestId: string;
  /** The protocol's "today": the clinic's local date. */
  asOf: string;
}

/** One CDS service of a kind: its discovery entry and its synchronous evaluation. */
export interface CdsService {
  id: string;
  hook: string;
  title: string;
  description: string;
  /** Prefetch templates (`Patient/{{context.patientId}}`, `Observation?patient={{context.patientId}}`). */
  prefetch: Record<string, string>;
  /**
   * The context fields the hook requires, checked with their JSON paths before `evaluate` (a zod object schema over
   * `context`).
   */
  context: z.ZodType<Record<string, unknown>>;
  /**
   * Evaluates the clinic's protocol on the prefetch and returns cards. `audit` is what the evaluation's audit row
   * records (ids only).
   *
   * @throws AppError `INVALID_INPUT` (prefetch not usable: the JSON path), `UNPROCESSABLE` (the clinic runs no
   *   protocol of the kind).
   */
  evaluate(
    deps: Pick<ApiDeps, 'store'>,
    request: CdsRequest,
  ): Promise<{
    cards: CdsCard[];
    audit: { patientId: string | null; protocol: { id: string; version: number } | null; dispositions: string[] };
  }>;
}
