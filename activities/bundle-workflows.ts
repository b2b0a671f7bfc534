// Production: bundle the workflow code once at build time (`npm run bundle:workflows`), so NODE_ENV=production workers
// start without webpack. The encrypting failure converter must be in the bundle, or failure messages would be stored
// in plaintext.
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';
import { FAILURE_CONVERTER_PATH } from '../connectors/codec.ts';

const { code } = await bundleWorkflowCode({
  workflowsPath: fileURLToPath(new URL('../workflows/index.ts', import.meta.url)),
  failureConverterPath: FAILURE_CONVERTER_PATH,
});
const out = fileURLToPath(new URL('../dist/workflow-bundle.js', import.meta.url));
mkdirSync(fileURLToPath(new URL('../dist/', import.meta.url)), { recursive: true });
writeFileSync(out, code);
console.log(`workflow bundle written: ${out} (${Math.round(code.length / 1024)} KiB)`);
