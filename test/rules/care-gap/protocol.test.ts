// The care-gap protocol schema: the built-in validates; mistakes are reported by JSON path; and the safety rules (the
// protocol never orders anything active, never acts where it writes nothing, always decides) refuse a definition.
import { describe, expect, test } from 'vitest';
import builtin from '../../../rules/kinds/care-gap/protocols/crc-screening-2021.json' with { type: 'json' };
import {
  CARE_GAP_BUILTINS,
  careGapKind,
  parseCareGapProtocol,
  validateCareGapProtocol,
} from '../../../rules/kinds/care-gap/index.ts';
import { validateProtocol } from '../../../rules/kinds/refill/protocol.ts';
import { AppError } from '../../../rules/errors.ts';

type Doc = typeof builtin;
const copy = (): Doc => structuredClone(builtin);
const clauseIndex = (doc: Doc, id: string): number => doc.clauses.findIndex((c) => c.id === id);

describe('crc-screening-2021 definition', () => {
  test('the built-in validates, encodes CRC-0..CRC-17 in order, and carries the windows and outreach defaults', () => {
    expect(validateCareGapProtocol(builtin)).toEqual([]);
    const p = CARE_GAP_BUILTINS[0]!;
    expect(p.id).toBe('crc-screening-2021');
    expect(p.version).toBe(1);
    expect(p.clauses.map((c) => c.id)).toEqual(Array.from({ length: 18 }, (_, i) => `CRC-${i}`));
    expect(Object.fromEntries(p.tests.map((t) => [t.id, t.windowMonths]))).toEqual({
      fit: 12,
      sdna_fit: 36,
      ct_colonography: 60,
      flexible_sigmoidoscopy: 60,
      colonoscopy: 120,
    });
    expect(p.outreach).toEqual({ reminderDay: 28, nurseCallDay: 56, closeDay: 90, restartAfterMonths: 6 });
  });

  test('the kind owns care-gap definitions only (a refill definition has no kind)', () => {
    expect(careGapKind.owns(builtin)).toBe(true);
    expect(careGapKind.owns({ schemaVersion: 1, id: 'family-medicine-2015' })).toBe(false);
    expect(careGapKind.owns(null)).toBe(false);
    // And the refill schema does not accept it.
    expect(validateProtocol(builtin).length).toBeGreaterThan(0);
  });

  test('dispositions route as the document says: no work item for not_applicable, gap_closed, suppressed', () => {
    const queues = Object.fromEntries(Object.entries(careGapKind.dispositions).map(([k, v]) => [k, v.queue]));
    expect(queues).toEqual({
      not_applicable: null,
      gap_closed: null,
      suppressed: null,
      outreach: 'outreach',
      nurse_review: 'nurse',
      doctor_review: 'doctor',
    });
    expect(careGapKind.actions.map((a) => a.id)).toEqual([
      'sign_order',
      'record_decline',
      'done_elsewhere',
      'snooze',
      'escalate',
    ]);
  });
});

describe('validation reports mistakes by JSON path', () => {
  test('an unknown fact path, an operator that does not fit the fact', () => {
    const doc = copy() as unknown as { clauses: { when?: unknown }[] };
    doc.clauses[2]!.when = {
      all: [{ fact: 'exclusions', path: '$.colorectalCancer.nope', operator: 'equal', value: true }],
    };
    doc.clauses[3]!.when = { all: [{ fact: 'patient', path: '$.ageYears', operator: 'withinDays', value: 3 }] };
    expect(validateCareGapProtocol(doc)).toEqual([
      {
        path: '$.clauses[2].when.all[0].path',
        message: 'fact "exclusions" has no field "nope" at $.colorectalCancer',
      },
      {
        path: '$.clauses[3].when.all[0].operator',
        message: 'operator "withinDays" needs a date fact, but patient.ageYears is number',
      },
    ]);
  });

  test('an unknown shared condition (cross-clause checks run once every clause is well formed)', () => {
    const doc = copy() as unknown as { clauses: { when?: unknown }[] };
    doc.clauses[4]!.when = { condition: 'missing' };
    expect(validateCareGapProtocol(doc)).toEqual([
      { path: '$.clauses[4].when.condition', message: 'unknown shared condition "missing"' },
    ]);
  });

  test('a window and the clause testing it must agree (CRC-10 colonoscopy in 60 months is refused)', () => {
    const doc = copy();
    const any = (doc.clauses[clauseIndex(doc, 'CRC-10')]!.when as { any: { path: string; value: unknown }[] }).any;
    any.find((c) => c.path === '$.lastColonoscopy.date')!.value = 60;
    expect(validateCareGapProtocol(doc)).toEqual([
      {
        path: '$.clauses[10].when.any[4].value',
        message: 'Colonoscopy counts for 120 months (tests[colonoscopy]); this condition says 60',
      },
    ]);
  });

  test('the outreach steps must come in order', () => {
    const doc = copy();
    doc.outreach.nurseCallDay = 100;
    expect(validateCareGapProtocol(doc).map((i) => i.path)).toEqual(['$.outreach']);
  });

  test('parseCareGapProtocol throws PROTOCOL_INVALID with every issue', () => {
    const doc = copy() as unknown as Record<string, unknown>;
    delete doc.outreach;
    let error: unknown;
    try {
      parseCareGapProtocol(doc);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('PROTOCOL_INVALID');
    expect((error as AppError).issues.map((i) => i.path)).toEqual(['$.outreach']);
  });
});

describe('clinical safety: the protocol never denies and never orders anything active', () => {
  test.each([
    ['an active order', 'place_fit_order'],
    ['signing for the clinician', 'sign_order'],
    ['a denial', 'deny_screening'],
  ])('an action that is not a pended draft is refused (%s)', (_why, action) => {
    const doc = copy();
    doc.clauses[clauseIndex(doc, 'CRC-17')]!.actions = ['pend_fit_order', action];
    expect(validateCareGapProtocol(doc)).toEqual([
      { path: '$.clauses[17].actions[1]', message: 'an action is pend_* (a draft) or mail_* (a letter)' },
    ]);
  });

  test('a deny disposition does not exist', () => {
    const doc = copy() as unknown as { clauses: { disposition: string }[] };
    doc.clauses[8]!.disposition = 'deny';
    const issues = validateCareGapProtocol(doc);
    expect(issues.map((i) => i.path)).toEqual(['$.clauses[8].disposition']);
  });

  test('no action where the protocol writes nothing (gap_closed, suppressed, not_applicable)', () => {
    const doc = copy();
    doc.clauses[clauseIndex(doc, 'CRC-10')]!.actions = ['pend_fit_order'];
    doc.clauses[clauseIndex(doc, 'CRC-13')]!.actions = ['pend_gi_referral'];
    expect(validateCareGapProtocol(doc)).toEqual([
      {
        path: '$.clauses[10].actions[0]',
        message: 'a gap_closed clause writes nothing to the EHR: it may not pend "pend_fit_order"',
      },
      {
        path: '$.clauses[13].actions[0]',
        message: 'a suppressed clause writes nothing to the EHR: it may not pend "pend_gi_referral"',
      },
    ]);
  });

  test('mailing the patient only from an outreach clause', () => {
    const doc = copy();
    doc.clauses[clauseIndex(doc, 'CRC-16')]!.actions = ['mail_fit_outreach'];
    expect(validateCareGapProtocol(doc)).toEqual([
      { path: '$.clauses[16].actions[0]', message: '"mail_fit_outreach" mails the patient: outreach clauses only' },
    ]);
  });

  test('every patient gets a decision: the last clause is the fallback, and only it omits "when"', () => {
    const doc = copy() as unknown as { clauses: { when?: unknown }[] };
    doc.clauses[17]!.when = { all: [{ fact: 'patient', path: '$.phone', operator: 'equal', value: true }] };
    delete doc.clauses[5]!.when;
    expect(validateCareGapProtocol(doc).map((i) => i.path)).toEqual(['$.clauses[5].when', '$.clauses[17].when']);
  });
});
