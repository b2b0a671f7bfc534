// Facts-level cases: the evaluator's own guarantees, independent of any FHIR encoding.
import { describe, expect, test } from 'vitest';
import { evaluateProtocol } from '../../rules/kinds/refill/evaluate.ts';
import { findBuiltinProtocol } from '../../rules/kinds/refill/protocols/index.ts';
import { RefillFactsSchema, type RefillFacts } from '../../rules/kinds/refill/facts.ts';
import { type ProtocolDefinition } from '../../rules/kinds/refill/protocol.ts';

const protocol = findBuiltinProtocol('family-medicine-2015') as ProtocolDefinition;

function facts(
  overrides: { drug?: Partial<RefillFacts['drug']>; visits?: Partial<RefillFacts['visits']> } = {},
): RefillFacts {
  return RefillFactsSchema.parse({
    asOf: '2026-06-15',
    drug: {
      name: 'Omeprazole 20 mg capsule',
      rxnormCodes: ['7646'],
      ingredients: ['omeprazole'],
      classes: ['proton_pump_inhibitor'],
      form: 'oral',
      controlledSchedule: null,
      prn: false,
      u500: false,
      antibioticIndication: null,
      evidence: { resourceType: 'MedicationRequest', id: 'req-1' },
      ...overrides.drug,
    },
    request: { pharmacyType: 'retail', supplyDays: 30, quantity: 30, refills: 0, evidence: [] },
    patient: { ageYears: 50, evidence: { resourceType: 'Patient', id: 'p1' } },
    therapy: { startDate: '2020-01-01', evidence: null },
    priorPrescription: { status: 'active', evidence: null },
    allergy: { activeToIngredient: false, evidence: [] },
    visits: {
      lastPcpRov: { resourceType: 'Encounter', id: 'e1', date: '2026-01-01' },
      lastPcpRovForAsthma: null,
      lastCcnVisit: null,
      ...overrides.visits,
    },
    labs: {
      lastCbc: null,
      lastCmp: null,
      lastDrugLevel: null,
      lastA1c: null,
      lastLipidPanel: null,
      lastUrineMicroalbumin: null,
    },
  });
}

describe('evaluateProtocol', () => {
  test('a plain PPI with a recent visit is approved for 12 months', async () => {
    const d = await evaluateProtocol(protocol, facts());
    expect(d.disposition).toBe('approve');
    expect(d.approvedSupply).toEqual({ renewalMonths: 12 });
  });

  test('a controlled substance is never approved, even when an admin writes a rule that would let it through', async () => {
    // A mis-edited protocol: the PPI category no longer excludes controlled drugs.
    const edited = structuredClone(protocol);
    const ppi = edited.categories.find((c) => c.id === 'antacid_reflux');
    if (!ppi) throw new Error('no PPI category');
    ppi.when = {
      all: [{ fact: 'drug', path: '$.classes', operator: 'containsAny', value: ['proton_pump_inhibitor', 'opioid'] }],
    };
    const opioid = facts({
      drug: {
        name: 'Oxycodone 5 mg tablet',
        ingredients: ['oxycodone'],
        classes: ['opioid'],
        controlledSchedule: 'CII',
      },
    });

    const d = await evaluateProtocol(edited, opioid);

    expect(d.disposition).toBe('doctor_review');
    expect(d.routeTo).toBe('pcp_or_coverage');
    expect(d.approvedSupply).toBeNull();
    expect(d.failedCriteria).toEqual(['controlled_substance']);
    expect(d.criteria.at(-1)?.explanation).toContain('Schedule II controlled substance');
  });

  test('nor is a controlled substance bridged when its criteria fail', async () => {
    const edited = structuredClone(protocol);
    const ppi = edited.categories.find((c) => c.id === 'antacid_reflux');
    if (!ppi) throw new Error('no PPI category');
    ppi.when = { all: [{ fact: 'drug', path: '$.classes', operator: 'contains', value: 'benzodiazepine' }] };
    const benzo = facts({
      drug: { ingredients: ['alprazolam'], classes: ['benzodiazepine'], controlledSchedule: 'CIV' },
      visits: { lastPcpRov: null },
    });
    const d = await evaluateProtocol(edited, benzo);
    expect(d.disposition).toBe('doctor_review');
    expect(d.bridgeSupply).toBeNull();
    expect(d.failedCriteria).toEqual(['visit_within_18mo', 'controlled_substance']);
  });

  test('under the reference protocol a controlled substance is simply not in protocol', async () => {
    const d = await evaluateProtocol(
      protocol,
      facts({
        drug: { ingredients: ['pregabalin'], classes: ['anticonvulsant', 'gabapentinoid'], controlledSchedule: 'CV' },
      }),
    );
    expect(d.failedCriteria).toEqual(['medication_not_in_protocol']);
    expect(d.disposition).toBe('doctor_review');
  });

  test('routes are taken by precedence, not document order', async () => {
    const edited = structuredClone(protocol);
    edited.routes.reverse(); // warfarin (100) now first in the document
    const both = facts({
      drug: { ingredients: ['warfarin', 'clopidogrel'], classes: ['anticoagulant', 'antiplatelet'] },
    });
    const d = await evaluateProtocol(edited, both);
    expect(d.failedCriteria).toEqual(['clopidogrel_provider_each_time']);
  });

  test('a drug in two categories must meet the criteria of both (reported once each)', async () => {
    const combo = facts({
      drug: { ingredients: ['naproxen', 'esomeprazole'], classes: ['nsaid', 'proton_pump_inhibitor'] },
      visits: { lastPcpRov: { resourceType: 'Encounter', id: 'e1', date: '2024-01-01' } },
    });
    const d = await evaluateProtocol(protocol, combo);
    expect(d.failedCriteria).toEqual(['visit_within_18mo']);
    expect(d.disposition).toBe('needs_visit');
  });

  test('the decision is the same for the same facts (deterministic)', async () => {
    const f = facts();
    expect(await evaluateProtocol(protocol, f)).toEqual(await evaluateProtocol(protocol, f));
  });
});
