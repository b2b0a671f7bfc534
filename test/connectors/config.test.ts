// The configuration schema: every DEMO_* value is checked at start-up, and a bad one is named (never echoed).
import { describe, expect, test } from 'vitest';
import { loadConfig } from '../../connectors/config.ts';
import { AppError } from '../../rules/index.ts';

const TOKEN = 'a'.repeat(24);

function problem(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return (err as AppError).message;
  }
  throw new Error('loadConfig accepted it');
}

describe('DEMO_* values', () => {
  test.each([
    ['DEMO_ADMIN_TOKEN', 'short-token'],
    ['DEMO_DOCTOR_TOKEN', 'x'.repeat(23)],
    ['DEMO_NURSE_TOKEN', `${'n'.repeat(30)} with spaces`],
    ['DEMO_NURSE_TOKEN', `${'n'.repeat(30)}"quote`],
    ['DEMO_ADMIN_TOKEN', 'x'.repeat(513)],
    ['DEMO_WEBHOOK_SECRET', 'too-short'],
    ['DEMO_WEBHOOK_SECRET', 'sixteen or more but spaced'],
    ['DEMO', 'maybe'],
  ])('%s=%j stops start-up with one line naming the variable, not the value', (name, value) => {
    const message = problem({ [name]: value });
    expect(message).toMatch(new RegExp(`^Invalid configuration: ${name}: `));
    expect(message).not.toContain('\n');
    expect(message).not.toContain(value);
  });

  test('the three role tokens must differ (a shared token would silently give one role to all)', () => {
    expect(problem({ DEMO_ADMIN_TOKEN: TOKEN, DEMO_NURSE_TOKEN: TOKEN })).toBe(
      'Invalid configuration: DEMO_NURSE_TOKEN: must differ from DEMO_ADMIN_TOKEN',
    );
  });

  test('good values, and empty ones (meaning unset), are accepted', () => {
    const c = loadConfig({
      DEMO_ADMIN_TOKEN: TOKEN,
      DEMO_DOCTOR_TOKEN: 'b'.repeat(24),
      DEMO_NURSE_TOKEN: 'c.~+/=-_'.repeat(4),
      DEMO_WEBHOOK_SECRET: 'whsec_0123456789abcdef',
    });
    expect([c.DEMO_ADMIN_TOKEN, c.DEMO_WEBHOOK_SECRET]).toEqual([TOKEN, 'whsec_0123456789abcdef']);
    const empty = loadConfig({ DEMO_ADMIN_TOKEN: '', DEMO_WEBHOOK_SECRET: '', DEMO: '' });
    expect([empty.DEMO_ADMIN_TOKEN, empty.DEMO_WEBHOOK_SECRET, empty.DEMO]).toEqual([undefined, undefined, false]);
  });
});

describe('DEMO', () => {
  test('is off unless set, whatever NODE_ENV says: a deploy that forgets NODE_ENV seeds no demo clinic', () => {
    expect(loadConfig({}).DEMO).toBe(false);
    expect(loadConfig({ NODE_ENV: 'development' }).DEMO).toBe(false);
    expect(loadConfig({ DEMO: '1' }).DEMO).toBe(true);
    expect(loadConfig({ DEMO: 'true', NODE_ENV: 'production' }).DEMO).toBe(true);
    expect(loadConfig({ DEMO: '0' }).DEMO).toBe(false);
  });
});
