// Production: bundle the workflow code once at build time (`npm run bundle:workflows`), so NODE_ENV=production workers
// start without webpack. The encrypting failure converter must be in the bundle, or failure messages would be stored
// in plaintext.
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';
import { FAILURE_CONVERTER_PATH } from '../connectors/codec.ts';
import { TRACED_WORKFLOW_MODULES } from '../connectors/telemetry/tracing.ts';

// Two bundles: the plain one, and one with the OpenTelemetry workflow interceptors that a worker with
// OTEL_EXPORTER_OTLP_ENDPOINT set loads (connectors/telemetry/worker-telemetry.ts), so a worker that does not trace
// runs no tracing code in its workflows.
mkdirSync(fileURLToPath(new URL('../dist/', import.meta.url)), { recursive: true });
for (const [file, workflowInterceptorModules] of [
  ['workflow-bundle.js', []],
  ['workflow-bundle.traced.js', TRACED_WORKFLOW_MODULES],
] as const) {
  const { code } = await bundleWorkflowCode({
    workflowsPath: fileURLToPath(new URL('../workflows/index.ts', import.meta.url)),
    failureConverterPath: FAILURE_CONVERTER_PATH,
    workflowInterceptorModules: [...workflowInterceptorModules],
  });
  const out = fileURLToPath(new URL(`../dist/${file}`, import.meta.url));
  writeFileSync(out, code);
  console.log(`workflow bundle written: ${out} (${Math.round(code.length / 1024)} KiB)`);
}
