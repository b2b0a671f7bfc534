import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DefaultLogger, bundleWorkflowCode } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FAILURE_CONVERTER_PATH } from '../../connectors/codec.ts';
import { WORKFLOWS_PATH } from '../helpers/temporal.ts';

// The second wall of STYLE.md §6.3: webpack refuses Node built-ins anywhere in the workflow import graph,
// including transitive imports lint cannot see.
test('workflow code bundles for the Temporal sandbox, with the encrypting failure converter', async () => {
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    failureConverterPath: FAILURE_CONVERTER_PATH,
    logger: new DefaultLogger('WARN'),
  });
  expect(code).toContain('emptyWorkflow');
  expect(code).toContain('encodeCommonAttributes');
  // rules/lifecycle/ is the one pure module of rules/ the sandbox runs (the refill Update validator asks canDecide).
  expect(code).toContain('Admins configure; clinicians decide cases');
});

describe('the bundler wall itself', () => {
  // Probe workflows live inside the project (so @temporalio/workflow resolves) but outside lint, tsc and git:
  // plain JavaScript in node_modules/.cache, as build tools do.
  const root = fileURLToPath(new URL('../../node_modules/.cache', import.meta.url));
  let dir: string;
  beforeAll(async () => {
    await mkdir(root, { recursive: true });
    dir = await mkdtemp(join(root, 'ehr-autopilot-bundle-probe-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Bundles a probe workflow; resolves with the bundler's error message, or undefined when it bundled. */
  async function bundleProbe(source: string): Promise<string | undefined> {
    const path = join(dir, `probe-${Math.random().toString(36).slice(2)}.js`);
    await writeFile(path, source);
    try {
      await bundleWorkflowCode({ workflowsPath: path, logger: new DefaultLogger('ERROR', () => undefined) });
      return undefined;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  }

  const body = 'export async function probeWorkflow() { return 1; }\n';

  test('accepts a probe workflow that imports nothing', async () => {
    expect(await bundleProbe(body)).toBeUndefined();
  });

  test('rejects the same workflow once it reaches a Node built-in through another module', async () => {
    // The built-in sits one module away from the workflow file, as it would inside a library.
    await writeFile(join(dir, 'helper.js'), "import { readFileSync } from 'fs';\nexport const read = readFileSync;\n");
    const error = await bundleProbe(`import { read } from './helper.js';\nexport const r = read;\n${body}`);
    expect(error).toMatch(/disallowed modules:\s+- 'fs'/);
  });
});
