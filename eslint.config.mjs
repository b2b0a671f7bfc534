// Folder boundaries (STYLE.md §6.3) live here; the workflow bundle test is the second wall.
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

const NODE = builtinModules.flatMap((m) => [m, `node:${m}`]);
const layer = (files, patterns, extraRules = {}) => ({
  files,
  rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns }], ...extraRules },
});

export default tseslint.config(
  {
    // The console is the one JavaScript that is ours to lint: typed by JSDoc through api/console/tsconfig.json.
    ignores: [
      'dist/**',
      'coverage/**',
      '.temporal/**',
      '.cluster/**', // npm run cluster: the Temporal server's Go module cache and build
      'data/**',
      'node_modules/**',
      '**/*.mjs',
      '**/*.js',
      '!api/console/**/*.js',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  { languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } } },
  {
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'separate-type-imports' }],
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'Read config through connectors/config.ts.' },
      ],
      'no-restricted-syntax': ['error', { selector: 'ExportDefaultDeclaration', message: 'Use named exports.' }],
    },
  },
  layer(
    ['workflows/**/*.ts'],
    [
      { group: NODE, message: 'Workflow code runs in the Temporal sandbox. Do I/O in an activity.' },
      {
        group: [
          '@temporalio/activity',
          '@temporalio/client',
          '@temporalio/worker',
          '@temporalio/testing',
          'fhir-kit-client',
          'json-rules-engine',
          'zod',
          'hono',
          'hono/*',
        ],
        message: 'Not sandbox code. Call an activity, or import a type.',
      },
      {
        // rules/lifecycle/ is the one pure module the sandbox runs (its own wall below keeps it import-free).
        regex: '(^|/)(activities/|rules/(?!lifecycle/index\\.ts$))',
        allowTypeImports: true,
        message: 'workflows/ takes only types from activities/ and rules/ (use `import type`).',
      },
      { group: ['**/connectors/**', '**/api/**'], message: 'Workflows never reach connectors or the API.' },
    ],
    { 'no-restricted-globals': ['error', 'process', 'Buffer', 'require', '__dirname'] },
  ),
  layer(
    ['rules/**/*.ts'],
    [
      {
        group: [
          '**/workflows/**',
          '**/activities/**',
          '**/connectors/**',
          '**/api/**',
          '**/sandbox/**',
          '**/facts/**',
          ...NODE,
        ],
        message: 'rules/ is the pure core; it imports nothing else in this repo.',
      },
    ],
  ),
  layer(
    ['rules/lifecycle/**/*.ts'],
    [{ regex: '.', allowTypeImports: true, message: 'The workflow sandbox runs rules/lifecycle/: types only.' }],
  ),
  layer(
    ['connectors/**/*.ts'],
    [{ group: ['**/workflows/**', '**/activities/**', '**/api/**'], message: 'Connectors are leaf adapters.' }],
  ),
  layer(
    ['activities/**/*.ts'],
    [
      { group: ['**/api/**'], message: 'Activities never call the API layer.' },
      {
        // A refill case's first route is computed by the same pure functions in the workflow and in `triageFirst`.
        group: ['**/workflows/**', '!**/workflows/task-queues.ts', '!**/workflows/refill-first-route.ts'],
        allowTypeImports: true,
        message: 'Only task-queue constants and the first-route functions cross from workflows/ into the worker.',
      },
    ],
  ),
  layer(
    ['api/**/*.ts'],
    [{ group: ['**/activities/**'], message: 'The API asks a workflow to act; it never runs activities itself.' }],
  ),
  layer(
    ['facts/**/*.ts'],
    [
      {
        group: [
          '**/workflows/**',
          '**/activities/**',
          '**/connectors/**',
          '**/api/**',
          '**/sandbox/**',
          '**/cli/**',
          '**/scripts/**',
          ...NODE,
        ],
        message: 'facts/ is pure FHIR→facts code: it imports rules/ and libraries, and does no I/O.',
      },
      {
        group: ['@temporalio/*', 'fhir-kit-client', 'kysely', 'hono', 'hono/*', '@hono/*', 'pg', 'better-sqlite3'],
        message: 'facts/ does no I/O: the caller reads the record and hands it in.',
      },
    ],
  ),
  {
    // The console: browser globals are typed by its tsconfig (lib DOM), so no-undef adds nothing; server JSON enters
    // as loosely typed JSDoc, so the no-unsafe-* family would flag every field read (tsc -p api/console checks types).
    files: ['api/console/**/*.js'],
    rules: {
      'no-undef': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    files: ['connectors/config.ts', 'test/**/*.ts', 'scripts/**/*.ts', 'cli/**/*.ts', '*.config.ts'],
    rules: { 'no-restricted-properties': 'off', 'no-restricted-syntax': 'off' },
  },
  prettier,
);
