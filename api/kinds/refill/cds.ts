// The refill kind's CDS Hooks service (issue 12 §2): `medication-refill` (CDS Hooks Library, hookVersion 0.1.0). The
// clinic's refill protocol is evaluated synchronously on the prefetch, with the SAME extraction the worker and
// `autopilot triage` run (facts/refill: patientRecordFromBundle → extractRefillFacts) and the compiled evaluator
// (rules/kinds/refill compileProtocol, proven identical to json-rules-engine's), so a card says what a case would.
import { randomUUID } from 'node:crypto';
import type { MedicationRequest } from '@medplum/fhirtypes';
import { z } from '@hono/zod-openapi';
import { extractRefillFacts, patientRecordFromBundle } from '../../../facts/refill/index.ts';
import { AppError } from '../../../rules/index.ts';
import { compileProtocol, type CompiledProtocol } from '../../../rules/kinds/refill/compile.ts';
import type { TriageDecision } from '../../../rules/kinds/refill/decision.ts';
import { refillKind } from '../../../rules/kinds/refill/index.ts';
import { parseProtocol } from '../../../rules/kinds/refill/protocol.ts';
import type { CdsCard, CdsRequest, CdsService } from '../../cds-types.ts';
import type { ApiDeps } from '../../deps.ts';

/** Compiled protocols by `id@version` (a published version never changes). */
const compiled = new Map<string, CompiledProtocol>();

async function clinicProtocol(
  { store }: Pick<ApiDeps, 'store'>,
  clinicId: string,
): Promise<{ id: string; version: number; evaluate: CompiledProtocol }> {
  const assignment = await store.clinics.protocolForKind(clinicId, refillKind.id);
  if (!assignment || assignment.version === null) {
    throw new AppError('UNPROCESSABLE', 'This clinic runs no published refill protocol');
  }
  const key = `${assignment.protocolId}@${assignment.version}`;
  let evaluate = compiled.get(key);
  if (!evaluate) {
    const version = await store.protocols.getVersion(assignment.protocolId, assignment.version);
    if (!version) throw new AppError('UNPROCESSABLE', 'The clinic’s refill protocol version does not exist');
    evaluate = compileProtocol(
      parseProtocol({ ...(version.definition as object), id: assignment.protocolId, version: assignment.version }),
    );
    compiled.set(key, evaluate);
  }
  return { id: assignment.protocolId, version: assignment.version, evaluate };
}

const Resource = z.looseObject({ resourceType: z.string() });
const MedicationsContext = z.looseObject({
  resourceType: z.literal('Bundle'),
  entry: z
    .array(z.looseObject({ resource: z.looseObject({ resourceType: z.literal('MedicationRequest') }) }))
    .min(1, 'no draft MedicationRequest'),
});
const RefillContext = z.looseObject({
  userId: z.string().min(1).max(256),
  patientId: z.string().regex(/^[A-Za-z0-9\-.]{1,64}$/, 'a FHIR id'),
  encounterId: z.string().optional(),
  medications: MedicationsContext,
});

/** The resources of a prefetch value: a resource, or a Bundle's entries' resources. */
function resourcesOf(value: unknown): Record<string, unknown>[] {
  const parsed = Resource.safeParse(value);
  if (!parsed.success) return [];
  if (parsed.data.resourceType !== 'Bundle') return [parsed.data];
  const entries = (parsed.data as { entry?: unknown }).entry;
  return Array.isArray(entries)
    ? entries.flatMap((e) => {
        const r = Resource.safeParse((e as { resource?: unknown } | null)?.resource);
        return r.success ? [r.data] : [];
      })
    : [];
}

/**
 * The Bundle the refill extraction reads, from the hook: the patient's record (the prefetch) and, as the refill
 * request, the first draft of `context.medications` (its intent read as `proposal`, what a refill request is). Other
 * proposals in the record are left out: one request per evaluation, as in a case.
 */
export function refillBundleFromHook(context: Record<string, unknown>, prefetch: Record<string, unknown>): unknown {
  const drafts = resourcesOf(context.medications);
  const request = { ...drafts[0], intent: 'proposal' } as unknown as MedicationRequest;
  const record = Object.values(prefetch)
    .flatMap(resourcesOf)
    .filter((r) => !(r.resourceType === 'MedicationRequest' && (r as { intent?: unknown }).intent === 'proposal'))
    .filter((r) => !(r.resourceType === 'MedicationRequest' && r.id === request.id));
  return { resourceType: 'Bundle', type: 'collection', entry: [request, ...record].map((resource) => ({ resource })) };
}

const supplyText = (d: TriageDecision): string =>
  d.approvedSupply === null
    ? ''
    : 'renewalMonths' in d.approvedSupply
      ? `${d.approvedSupply.renewalMonths} months`
      : `#${d.approvedSupply.quantity} with ${d.approvedSupply.refills} refills`;

/** The card for a decision: meets protocol (with the order as a suggestion), needs a visit (bridge), or route. */
export function refillCard(d: TriageDecision, request: MedicationRequest): CdsCard {
  const source = {
    label: 'ehr-autopilot refill protocol',
    topic: {
      system: 'urn:ehr-autopilot:protocol',
      code: d.protocol.id,
      display: `${d.protocol.id} v${d.protocol.version}`,
    },
  };
  const extension = { protocol: d.protocol, disposition: d.disposition };
  const failed = d.criteria.filter((c) => !c.passed);
  const reasons = failed
    .map((c) => {
      const evidence = c.evidence.map((e) => `${e.resourceType}/${e.id}`).join(', ');
      return `- **${c.clause}** ${c.explanation}${evidence ? ` (evidence: ${evidence})` : ''}`;
    })
    .join('\n');
  const protocolLine = `Protocol ${d.protocol.id} v${d.protocol.version}.`;
  switch (d.disposition) {
    case 'approve': {
      const order: MedicationRequest = {
        ...request,
        resourceType: 'MedicationRequest',
        status: 'draft',
        intent: 'order',
        ...(d.approvedSupply && 'renewalMonths' in d.approvedSupply
          ? {
              dispenseRequest: {
                ...request.dispenseRequest,
                validityPeriod: { start: new Date().toISOString().slice(0, 10) },
                expectedSupplyDuration: {
                  value: d.approvedSupply.renewalMonths * 30,
                  unit: 'days',
                  system: 'http://unitsofmeasure.org',
                  code: 'd',
                },
              },
            }
          : {}),
      };
      delete (order as { id?: string }).id;
      return {
        uuid: randomUUID(),
        summary: `Meets protocol: renew ${supplyText(d)}`.slice(0, 140),
        detail: `Every criterion of the clinic's refill protocol passed. ${protocolLine}`,
        indicator: 'info',
        source,
        suggestions: [
          {
            label: `Renew ${supplyText(d)} per protocol`,
            uuid: randomUUID(),
            isRecommended: true,
            actions: [
              {
                type: 'create',
                description: `Renew ${supplyText(d)} per protocol`,
                resource: order as unknown as Record<string, unknown>,
              },
            ],
          },
        ],
        selectionBehavior: 'at-most-one',
        extension,
      };
    }
    case 'needs_visit':
      return {
        uuid: randomUUID(),
        summary: (d.bridgeSupply ? `Needs a visit: bridge #${d.bridgeSupply.quantity}` : 'Needs a visit').slice(0, 140),
        detail: `${protocolLine}\n\nCriteria not met:\n${reasons}`,
        indicator: 'warning',
        source,
        extension,
      };
    case 'nurse_review':
    case 'doctor_review':
      return {
        uuid: randomUUID(),
        summary: `Route to ${d.routeTo ?? (d.disposition === 'doctor_review' ? 'doctor' : 'nurse')}`.slice(0, 140),
        detail: `${protocolLine}\n\nWhy:\n${reasons || '- the protocol does not decide this request'}`,
        indicator: d.disposition === 'doctor_review' ? 'warning' : 'info',
        source,
        extension,
      };
  }
}

export const refillCdsService: CdsService = {
  id: 'refill-protocol',
  hook: 'medication-refill',
  title: 'Refill protocol',
  description:
    'Evaluates the clinic’s published refill protocol on the draft renewal and the patient’s record: meets protocol ' +
    '(renew, as a suggestion), needs a visit (bridge supply), or route to a nurse or doctor, with the failed criteria ' +
    'and their evidence.',
  prefetch: {
    patient: 'Patient/{{context.patientId}}',
    medications: 'MedicationRequest?patient={{context.patientId}}',
    encounters: 'Encounter?patient={{context.patientId}}',
    observations: 'Observation?patient={{context.patientId}}',
    conditions: 'Condition?patient={{context.patientId}}',
    allergies: 'AllergyIntolerance?patient={{context.patientId}}',
    appointments: 'Appointment?patient={{context.patientId}}',
  },
  context: RefillContext,
  async evaluate(deps, req: CdsRequest) {
    const protocol = await clinicProtocol(deps, req.clinic.id);
    const bundle = refillBundleFromHook(req.context, req.prefetch);
    const facts = extractRefillFacts(patientRecordFromBundle(bundle), { asOf: req.asOf });
    const decision = protocol.evaluate(facts);
    const request = resourcesOf(req.context.medications)[0] as unknown as MedicationRequest;
    return {
      cards: [refillCard(decision, request)],
      audit: {
        patientId: typeof req.context.patientId === 'string' ? req.context.patientId : null,
        protocol: decision.protocol,
        dispositions: [decision.disposition],
      },
    };
  },
};
