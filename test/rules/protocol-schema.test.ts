/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment -- these tests break protocol documents on purpose, which a typed view would not allow */
import { describe, expect, test } from 'vitest';
import { AppError } from '../../rules/index.ts';
import { parseProtocol, validateProtocol } from '../../rules/kinds/refill/protocol.ts';
import { BUILTIN_PROTOCOLS, findBuiltinProtocol } from '../../rules/kinds/refill/protocols/index.ts';

const base = () => structuredClone(findBuiltinProtocol('family-medicine-2015')) as unknown as Record<string, any>;

describe('protocol schema', () => {
  test('every built-in protocol validates', () => {
    expect(BUILTIN_PROTOCOLS.length).toBeGreaterThan(0);
    for (const p of BUILTIN_PROTOCOLS) expect(validateProtocol(p)).toEqual([]);
  });

  test('findBuiltinProtocol picks the latest version, or a given one', () => {
    expect(findBuiltinProtocol('family-medicine-2015')?.version).toBe(1);
    expect(findBuiltinProtocol('family-medicine-2015', 2)).toBeUndefined();
    expect(findBuiltinProtocol('nope')).toBeUndefined();
  });

  test('an unknown fact is rejected at its JSON path', () => {
    const p = base();
    p.categories[0].criteria[0].when.all[0].fact = 'vists';
    expect(validateProtocol(p)).toEqual([
      expect.objectContaining({ path: '$.categories[0].criteria[0].when.all[0].fact' }),
    ]);
  });

  test('a path to a field the facts do not have is rejected', () => {
    const p = base();
    p.categories[0].criteria[0].when.all[0].path = '$.lastPcpROV.date';
    const issues = validateProtocol(p);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toEqual({
      path: '$.categories[0].criteria[0].when.all[0].path',
      message: 'fact "visits" has no field "lastPcpROV" at $',
    });
  });

  test('an unknown operator is rejected', () => {
    const p = base();
    p.routes[0].when.all[0].operator = 'withinMonth';
    expect(validateProtocol(p)[0]?.path).toBe('$.routes[0].when.all[0].operator');
  });

  test('an operator on the wrong kind of fact is rejected', () => {
    const p = base();
    p.categories[0].criteria[0].when.all[0] = {
      fact: 'priorPrescription',
      path: '$.status',
      operator: 'withinMonths',
      value: 6,
    };
    expect(validateProtocol(p)[0]).toEqual({
      path: '$.categories[0].criteria[0].when.all[0].operator',
      message: 'operator "withinMonths" needs a date fact, but priorPrescription.status is scalar',
    });
  });

  test('a value that does not fit the fact is rejected (misspelt drug class, bad months)', () => {
    const p = base();
    p.categories[0].when.all[1].value = ['proton_pump_inhibitors'];
    p.categories[1].criteria[0].when.all[0].value = -3;
    const issues = validateProtocol(p);
    expect(issues.map((i) => i.path)).toEqual([
      '$.categories[0].when.all[1].value',
      '$.categories[1].criteria[0].when.all[0].value',
    ]);
    expect(issues[0]?.message).toMatch(/value does not fit drug\.classes with "containsAny" at \$\[0\]/);
  });

  test('an unknown ingredient in a rule is rejected', () => {
    const p = base();
    p.routes[2].when.all[0].value = 'wafarin';
    expect(validateProtocol(p)[0]?.path).toBe('$.routes[2].when.all[0].value');
  });

  test('unknown keys, bad shapes and missing metadata are rejected with paths', () => {
    const p = base();
    p.routes[0].when = { all: [{ fact: 'drug', path: '$.u500', operator: 'equal', value: true, priority: 1 }] };
    p.guards[0].when = { fact: 'allergy', operator: 'equal', value: false };
    delete p.categories[2].description;
    p.categories[3].criteria[0].onFail = 'deny';
    const paths = validateProtocol(p).map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        '$.routes[0].when.all[0]',
        '$.guards[0].when',
        '$.categories[2].description',
        '$.categories[3].criteria[0].onFail',
      ]),
    );
  });

  test('a reference to an undefined shared condition, and cycles between shared ones, are rejected', () => {
    const p = base();
    p.categories[0].when.all[0] = { condition: 'notControled' };
    p.conditions.a = { condition: 'b' };
    p.conditions.b = { all: [{ condition: 'a' }] };
    const issues = validateProtocol(p);
    expect(issues).toContainEqual({
      path: '$.categories[0].when.all[0].condition',
      message: 'unknown shared condition "notControled"',
    });
    expect(issues.some((i) => i.message.includes('cycle'))).toBe(true);
  });

  test('a template placeholder must name a real fact path', () => {
    const p = base();
    p.categories[0].criteria[0].explanation.pass = 'Seen on {{visits.lastRov.date}}.';
    expect(validateProtocol(p)[0]?.path).toBe('$.categories[0].criteria[0].explanation.pass');
  });

  test('a protocol can never approve by routing, and "unclear" always reaches a doctor', () => {
    const p = base();
    p.routes[0].disposition = 'approve';
    p.outcomes.unclear.disposition = 'nurse_review';
    expect(validateProtocol(p).map((i) => i.path)).toEqual([
      '$.outcomes.unclear.disposition',
      '$.routes[0].disposition',
    ]);
  });

  test('duplicate ids are rejected', () => {
    const p = base();
    p.routes[1].id = p.routes[0].id;
    expect(validateProtocol(p)).toContainEqual({
      path: '$.routes[1].id',
      message: 'duplicate route id "u500_to_endocrinology"',
    });
  });

  test('parseProtocol throws PROTOCOL_INVALID with every issue', () => {
    const p = base();
    p.version = 0;
    p.bridgeSupply = [];
    const err = (() => {
      try {
        parseProtocol(p);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('PROTOCOL_INVALID');
    expect((err as AppError).issues.map((i) => i.path)).toEqual(['$.version', '$.bridgeSupply']);
  });
});
