// Writes the synthetic bundle fixtures: `npx tsx sandbox/synthetic/write-fixtures.ts`.
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { FIXTURE_OPTIONS, buildFixtureBundles } from './fixtures.ts';

const dir = fileURLToPath(new URL('../../test/fixtures/bundles/', import.meta.url));
mkdirSync(dir, { recursive: true });
const fixtures = buildFixtureBundles();
// Written as prettier would, so `prettier --check` stays clean.
const write = async (file: string, value: unknown) => {
  const path = `${dir}${file}`;
  const options = { ...(await resolveConfig(path)), filepath: path };
  writeFileSync(path, await format(JSON.stringify(value, null, 2), options));
};
for (const { file, bundle } of fixtures) await write(file, bundle);
await write(
  'synthetic-index.json',
  fixtures.map(({ file, refill }) => ({ file, asOf: FIXTURE_OPTIONS.asOf, ...refill })),
);
console.log(`wrote ${fixtures.length} bundles and synthetic-index.json to ${dir}`);
