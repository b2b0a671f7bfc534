// The first wall of STYLE.md §6.3, proven: the import rules of eslint.config.mjs, run on probe files that exist only
// in memory. Only the config's import walls are loaded (no type information), so this is fast and needs no tsconfig.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Linter } from 'eslint';
import tseslint from 'typescript-eslint';
import { beforeAll, describe, expect, test } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const RULE = '@typescript-eslint/no-restricted-imports';
let walls: Linter.Config[];

beforeAll(async () => {
  const configPath = join(root, 'eslint.config.mjs');
  const { default: config } = (await import(configPath)) as { default: Linter.Config[] };
  walls = config.filter((c) => c.rules !== undefined && RULE in c.rules);
  expect(walls.length).toBeGreaterThan(3);
});

/** Lints `import … from specifier` as if it were the file at `file`; returns the wall messages (none: allowed). */
function wallMessages(file: string, specifier: string): string[] {
  const linter = new Linter({ configType: 'flat', cwd: root });
  const messages = linter.verify(
    `import { x } from '${specifier}';\nexport const y = x;\n`,
    [
      {
        files: ['**/*.ts'],
        languageOptions: { parser: tseslint.parser },
        plugins: { '@typescript-eslint': tseslint.plugin },
      },
      ...walls,
    ],
    join(root, file),
  );
  expect(messages.filter((m) => m.ruleId !== RULE)).toEqual([]);
  return messages.map((m) => m.message);
}

describe('facts/ is pure FHIR→facts code', () => {
  test.each([
    ['../../connectors/config.ts'],
    ['../../connectors/fhir/connector.ts'],
    ['../../activities/triage.ts'],
    ['../../api/app.ts'],
    ['../../workflows/refill-triage.ts'],
    ['../../sandbox/synthetic/generate.ts'],
    ['../../cli/autopilot.ts'],
    ['node:fs'],
    ['fs/promises'],
    ['fhir-kit-client'],
    ['kysely'],
    ['@temporalio/client'],
  ])('facts/refill/ may not import %s', (specifier) => {
    const messages = wallMessages('facts/refill/probe.ts', specifier);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/facts\/ (is pure|does no I\/O)/);
  });

  test.each([['../../rules/index.ts'], ['../../rules/value-sets/index.ts'], ['zod'], ['date-fns'], ['../fhir.ts']])(
    'facts/refill/ may import %s',
    (specifier) => {
      expect(wallMessages('facts/refill/probe.ts', specifier)).toEqual([]);
    },
  );

  test('rules/ may not import facts/ (the pure core stays below it)', () => {
    expect(wallMessages('rules/engine/probe.ts', '../../facts/refill/index.ts')).toHaveLength(1);
    expect(wallMessages('rules/schema/probe.ts', './facts.ts')).toEqual([]);
  });
});

describe('the API takes facts/ directly, and nothing from activities/', () => {
  test.each([['api/main.ts'], ['api/routes/protocols.ts']])('%s may import facts/', (file) => {
    const specifier = file === 'api/main.ts' ? '../facts/refill/index.ts' : '../../facts/refill/index.ts';
    expect(wallMessages(file, specifier)).toEqual([]);
  });

  test('api/main.ts has no activities/ exception any more', () => {
    expect(wallMessages('api/main.ts', '../activities/facts/index.ts')).toEqual([
      expect.stringMatching(/never runs activities/),
    ]);
    expect(wallMessages('api/main.ts', '../activities/triage.ts')).toHaveLength(1);
  });
});
