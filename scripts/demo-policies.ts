// `npm run demo:policies`: physician touches per 100 demo requests under each signing policy. For each policy it
// starts the product as `npm start` does (a fresh DATA_DIR and free ports: scripts/bench-stack.ts), runs
// `npm run demo:traffic -- --policy P --decide` against it, reads GET /v1/analytics for the demo clinic and prints one
// line per policy, then stops the stack. Options: --limit N (refill requests per policy, default 100).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startBenchStack } from './bench-stack.ts';

const { values } = parseArgs({ options: { limit: { type: 'string', default: '100' } } });
const root = fileURLToPath(new URL('..', import.meta.url));

function run(cmd: string[], env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...cmd], { cwd: root, env, stdio: 'inherit' });
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd.join(' ')} exited ${code}`))));
  });
}

const rows: string[] = [];
for (const policy of ['doctor', 'delegated', 'standing_order']) {
  const stack = await startBenchStack({ root, env: {} });
  try {
    await run(
      ['scripts/demo-traffic.ts', '--limit', values.limit, '--care-gaps', '0', '--policy', policy, '--decide'],
      stack.env,
    );
    const creds = JSON.parse(readFileSync(join(stack.dir, 'demo-credentials.json'), 'utf8')) as {
      clinicId: string;
      tokens: Record<string, string>;
    };
    const day = new Date().toISOString().slice(0, 10);
    const res = await fetch(`${stack.api}/v1/analytics?clinicId=${creds.clinicId}&from=${day}&to=${day}`, {
      headers: { authorization: `Bearer ${creds.tokens.admin}` },
    });
    const report = (await res.json()) as { totals: Record<string, unknown> };
    rows.push(`${policy.padEnd(15)} ${JSON.stringify(report.totals)}`);
    console.log(`[${policy}]`, JSON.stringify(report.totals));
  } finally {
    await stack.stop();
  }
}
console.log(rows.join('\n'));
