// The sandbox child of a benchmark stack (scripts/bench-stack.ts --counting-sandbox): the sandbox EHR exactly as
// `npm start` runs it (sandbox/main.ts's startSeededSandbox), plus `GET /requests` on a second loopback port
// (BENCH_SANDBOX_STATS_PORT) answering how many HTTP requests it has answered so far, by kind: the round trips the
// EHR saw. Counts only, no patient data.
import { createServer } from 'node:http';
import { loadConfig } from '../connectors/config.ts';
import { createLogger } from '../connectors/logger.ts';
import { startSeededSandbox } from '../sandbox/main.ts';

const config = loadConfig();
const logger = createLogger(config, 'sandbox');
const { handle } = await startSeededSandbox(config, logger);

/** `GET Encounter` (search), `GET Patient/{id}` (read), `POST /` (batch), `POST token`… */
function kindOf(method: string, path: string, query: string): string {
  const fhir = /\/fhir\/R4\/?(.*)$/.exec(path);
  if (!fhir) return `${method} ${path.split('/').at(-1) ?? path}`;
  const [type, id] = (fhir[1] ?? '').split('/');
  if (!type) return `${method} batch`;
  if (type === 'metadata') return 'GET metadata';
  if (method === 'GET')
    return id ? `read ${type}` : `search ${type}${query.includes('_offset=') ? ' (next page)' : ''}`;
  if (method === 'POST') return `create ${type}`;
  if (method === 'PUT') return `update ${type}`;
  return `${method} ${type}`;
}

const stats = createServer((req, res) => {
  if (req.url !== '/requests') {
    res.writeHead(404).end();
    return;
  }
  const byKind: Record<string, number> = {};
  for (const r of handle.requests) {
    const k = kindOf(r.method, r.path, r.query);
    byKind[k] = (byKind[k] ?? 0) + 1;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ total: handle.requests.length, byKind }));
});
stats.listen(Number(process.env.BENCH_SANDBOX_STATS_PORT), '127.0.0.1');

const stop = () => {
  stats.close();
  handle.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
