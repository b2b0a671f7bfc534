// The care-gap kind's CDS Hooks service (issue 12 §2): `appointment-book` (CDS Hooks Library, hookVersion 1.0): the
// patient's colorectal-screening status while a visit is booked. The clinic's care-gap protocol is evaluated on the
// patient's record (the prefetch) with the SAME extraction and evaluator the worker runs (facts/care-gap
// careGapFactsFromBundle → careGapFactsFromResources, then the kind's own `evaluate`, evaluateCareGap), and what the
// patient's open care-gap case has done (a pended FIT) is read from the case projection.
import { randomUUID } from 'node:crypto';
import { z } from '@hono/zod-openapi';
import type { CaseRecord } from '../../../connectors/db/index.ts';
import { careGapFactsFromBundle } from '../../../facts/care-gap/index.ts';
import { AppError } from '../../../rules/index.ts';
import {
  careGapKind,
  careGapValueSetsWith,
  parseCareGapProtocol,
  type CareGapDecision,
  type CareGapProtocol,
} from '../../../rules/kinds/care-gap/index.ts';
import type { CdsCard, CdsRequest, CdsService } from '../../cds-types.ts';
import type { ApiDeps } from '../../deps.ts';

/** Parsed protocols by `id@version` (a published version never changes). */
const parsed = new Map<string, CareGapProtocol>();

/** The care-gap protocol version the clinic runs now (its pin, else the live version), as the worker pins it. */
async function clinicProtocol({ store }: Pick<ApiDeps, 'store'>, clinicId: string): Promise<CareGapProtocol> {
  const assignment = await store.clinics.protocolForKind(clinicId, careGapKind.id);
  if (!assignment || assignment.version === null) {
    throw new AppError('UNPROCESSABLE', 'This clinic runs no published care-gap protocol');
  }
  const key = `${assignment.protocolId}@${assignment.version}`;
  let definition = parsed.get(key);
  if (!definition) {
    const version = await store.protocols.getVersion(assignment.protocolId, assignment.version);
    if (!version) throw new AppError('UNPROCESSABLE', 'The clinic’s care-gap protocol version does not exist');
    definition = parseCareGapProtocol({
      ...(version.definition as object),
      id: assignment.protocolId,
      version: assignment.version,
    });
    parsed.set(key, definition);
  }
  return definition;
}

const FhirId = z.string().regex(/^[A-Za-z0-9\-.]{1,64}$/, 'a FHIR id');
const AppointmentBookContext = z.looseObject({
  userId: z.string().min(1).max(256),
  patientId: FhirId,
  encounterId: FhirId.optional(),
  appointments: z.looseObject({
    resourceType: z.literal('Bundle'),
    entry: z
      .array(z.looseObject({ resource: z.looseObject({ resourceType: z.literal('Appointment') }) }))
      .min(1, 'no Appointment'),
  }),
});

const Resource = z.looseObject({ resourceType: z.string(), id: z.string().optional() });
type Res = z.infer<typeof Resource>;

/**
 * One collection Bundle of every resource in the prefetch (a resource, or a Bundle's entries), each once, with the
 * JSON path it came from (so a malformed resource is refused at its place in the request).
 */
export function recordFromPrefetch(prefetch: Record<string, unknown>): {
  bundle: { resourceType: 'Bundle'; type: 'collection'; entry: { resource: Res }[] };
  origins: string[];
} {
  const seen = new Set<string>();
  const entry: { resource: Res }[] = [];
  const origins: string[] = [];
  const add = (value: unknown, origin: string) => {
    const r = Resource.safeParse(value);
    if (!r.success) return;
    const key = r.data.id === undefined ? null : `${r.data.resourceType}/${r.data.id}`;
    if (key !== null && seen.has(key)) return;
    if (key !== null) seen.add(key);
    entry.push({ resource: r.data });
    origins.push(origin);
  };
  for (const [name, value] of Object.entries(prefetch)) {
    const r = Resource.safeParse(value);
    if (!r.success) continue;
    if (r.data.resourceType !== 'Bundle') {
      add(r.data, `$.prefetch.${name}`);
      continue;
    }
    const entries = (r.data as { entry?: unknown }).entry;
    if (!Array.isArray(entries)) continue;
    entries.forEach((e: unknown, i) =>
      add((e as { resource?: unknown } | null)?.resource, `$.prefetch.${name}.entry[${i}].resource`),
    );
  }
  return { bundle: { resourceType: 'Bundle', type: 'collection', entry }, origins };
}

/** An extraction error's path in the synthetic bundle (`$.entry[3].resource.code`) as the request's path. */
function requestPath(path: string, origins: readonly string[]): string {
  const m = /^\$\.entry\[(\d+)\]\.resource(.*)$/.exec(path);
  if (m) return `${origins[Number(m[1])] ?? '$.prefetch'}${m[2]}`;
  // "No Patient with that id" (at `$.entry`): the patient's prefetch is what is missing.
  return '$.prefetch.patient';
}

const reasonText = (d: CareGapDecision): string =>
  d.reasons
    .map((r) => {
      const evidence = r.evidence.map((e) => `${e.resourceType}/${e.id}`).join(', ');
      return `- ${r.id.replaceAll('_', ' ')}${evidence ? ` (evidence: ${evidence})` : ''}`;
    })
    .join('\n');

const clip = (s: string): string => (s.length <= 140 ? s : `${s.slice(0, 139)}…`);

/** The tests a protocol's pended actions order, by action (the recommended modality). */
const MODALITY: Record<string, string> = { pend_fit_order: 'FIT' };

/**
 * The cards for a booked visit, from the decision on the record and the patient's open case. A clinician booking a
 * visit wants to know what to do in it, so only an open gap makes a card: due (with the recommended test, or "FIT
 * pended" when the outreach case already pended one: that order is also why the record now reads "already ordered"),
 * or needing a nurse's or doctor's review (urgent: critical). Up to date, excluded, declined or ordered elsewhere: no
 * card (the evaluation is still audited). The protocol never denies.
 */
export function careGapCards(d: CareGapDecision, open: CaseRecord | null): CdsCard[] {
  const source = {
    label: 'ehr-autopilot care-gap protocol',
    topic: {
      system: 'urn:ehr-autopilot:protocol',
      code: d.protocol.id,
      display: `${d.protocol.id} v${d.protocol.version}`,
    },
  };
  const clause = d.clauses.find((c) => c.id === d.clause);
  const protocolLine = `Protocol ${d.protocol.id} v${d.protocol.version}, clause ${d.clause}${clause ? ` (${clause.title})` : ''}.`;
  const card = (c: Omit<CdsCard, 'uuid' | 'source' | 'extension'>, disposition: string): CdsCard => ({
    uuid: randomUUID(),
    ...c,
    source,
    extension: { protocol: d.protocol, disposition },
  });
  const caseLine = open
    ? `\n\nCare-gap case ${open.id} is open${open.queue ? ` in the ${open.queue} queue${open.pool ? ` (${open.pool})` : ''}` : ''}.`
    : '';

  const fitPended = open !== null && open.queue === 'outreach' && open.disposition === 'outreach';
  if (fitPended && (d.disposition === 'outreach' || d.disposition === 'suppressed')) {
    return [
      card(
        {
          summary: 'Colorectal screening due: FIT pended',
          detail:
            'The care-gap outreach pended a FIT order and mails the kit; it is tracked until a result arrives. ' +
            `The visit is a chance to hand over or go through the kit.${caseLine}\n\n${protocolLine}`,
          indicator: 'info',
        },
        'outreach',
      ),
    ];
  }
  switch (d.disposition) {
    case 'outreach': {
      const modality = d.actions.map((a) => MODALITY[a]).find((m) => m !== undefined);
      return [
        card(
          {
            summary: modality ? `Colorectal screening due: ${modality} recommended` : 'Colorectal screening due',
            detail: `${protocolLine}\n\nWhy:\n${reasonText(d)}${caseLine}`,
            indicator: 'warning',
          },
          d.disposition,
        ),
      ];
    }
    case 'nurse_review':
    case 'doctor_review': {
      const who = d.disposition === 'doctor_review' ? 'doctor' : 'nurse';
      const referral = d.actions.includes('pend_gi_referral') ? ' A GI referral is pended for signature.' : '';
      return [
        card(
          {
            summary: clip(`Colorectal screening needs ${who} review: ${clause?.title ?? d.clause}`),
            detail: `${protocolLine}${referral}\n\nWhy:\n${reasonText(d)}${caseLine}`,
            indicator: d.priority === 'urgent' ? 'critical' : 'warning',
          },
          d.disposition,
        ),
      ];
    }
    case 'gap_closed':
    case 'not_applicable':
    case 'suppressed':
      return [];
  }
}

export const careGapCdsService: CdsService = {
  id: 'care-gap-status',
  hook: 'appointment-book',
  title: 'Colorectal screening status',
  description:
    'While a visit is booked: the patient’s colorectal-screening care gap, from the clinic’s published care-gap ' +
    'protocol on the patient’s record and the patient’s open care-gap case: due (with the recommended test, or ' +
    '"FIT pended" when the outreach already pended one) or needing a nurse’s or doctor’s review. No card when ' +
    'screening is up to date, excluded, declined or already ordered.',
  prefetch: {
    patient: 'Patient/{{context.patientId}}',
    conditions: 'Condition?patient={{context.patientId}}',
    procedures: 'Procedure?patient={{context.patientId}}',
    observations: 'Observation?patient={{context.patientId}}',
    diagnosticReports: 'DiagnosticReport?patient={{context.patientId}}',
    encounters: 'Encounter?patient={{context.patientId}}',
    medications: 'MedicationRequest?patient={{context.patientId}}&status=active&_include=MedicationRequest:medication',
    serviceRequests: 'ServiceRequest?patient={{context.patientId}}&status=draft,active,on-hold',
  },
  context: AppointmentBookContext,
  async evaluate(deps, req: CdsRequest) {
    const patientId = req.context.patientId as string;
    const definition = await clinicProtocol(deps, req.clinic.id);
    // The clinic's loaded value-set expansions extend the built-in sets, as in the worker's read.
    const loaded = await deps.store.valueSets.current(req.clinic.id, careGapKind.valueSets ?? []);
    const valueSets = careGapValueSetsWith(
      loaded.map((l) => ({ valueSetId: l.valueSetId, expansion: { source: l.source, codes: l.codes } })),
    );
    const { bundle, origins } = recordFromPrefetch(req.prefetch);
    let facts;
    try {
      facts = careGapFactsFromBundle(bundle, { patientId, asOf: req.asOf, valueSets });
    } catch (err) {
      if (!(err instanceof AppError) || err.code !== 'INVALID_INPUT') throw err;
      const issues = err.issues.map((i) => ({ path: requestPath(i.path, origins), message: i.message }));
      const first = issues[0] ?? { path: '$.prefetch', message: err.message };
      throw new AppError('INVALID_INPUT', `Invalid hook request at ${first.path}: ${first.message}`, {
        issues: issues.length ? issues : [first],
      });
    }
    const decision = await careGapKind.evaluate(definition, facts);
    const open = await deps.store.cases.openCaseForPatient(req.clinic.id, careGapKind.id, patientId);
    return {
      cards: careGapCards(decision, open),
      audit: { patientId, protocol: decision.protocol, dispositions: [decision.disposition] },
    };
  },
};
