// `npm start`: the whole product on one machine. The embedded Temporal dev server (state in $DATA_DIR/temporal.db),
// the sandbox EHR, one worker and the API, each a child process with prefixed output; Ctrl-C stops them all.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { KIND_APIS } from '../api/kinds/index.ts';
import { loadConfig, type Config } from '../connectors/config.ts';
import { createTemporalClient, ensureSearchAttributes } from '../connectors/temporal.ts';
import { answers, isPortFree, startDevServer, type DevServer } from './temporal-cli.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface ChildSpec {
  name: string;
  /** Entrypoint, relative to the project root (or absolute); run as `node --import tsx <entry>`. */
  entry: string;
}

/** The processes `npm start` runs, in start order (stopped in reverse, Temporal last). */
export const CHILDREN: readonly ChildSpec[] = [
  { name: 'sandbox', entry: 'sandbox/main.ts' },
  { name: 'worker', entry: 'activities/worker.ts' },
  { name: 'api', entry: 'api/main.ts' },
];

export interface StartOptions {
  env?: Record<string, string | undefined>;
  children?: readonly ChildSpec[];
  healthTimeoutMs?: number;
  stopTimeoutMs?: number;
  /** Where prefixed output goes (stdout by default). */
  write?: (text: string) => void;
}

const COLORS = [36, 35, 33, 32, 34, 31];

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal); // the child leads its own process group (detached)
  } catch {
    // already gone
  }
}
const say = (write: (text: string) => void, line: string): void => write(`[start] ${line}\n`);

/**
 * Reads `$DATA_DIR/payload.key`, creating it (32 random bytes, base64, mode 0600) on first run.
 * Why a file: a second `npm start` must decrypt the histories the first one wrote.
 */
export function ensurePayloadKey(dataDir: string): { key: string; created: boolean } {
  const file = join(dataDir, 'payload.key');
  if (!existsSync(file)) {
    const key = randomBytes(32).toString('base64');
    writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
    return { key, created: true };
  }
  const key = readFileSync(file, 'utf8').trim();
  if (Buffer.from(key, 'base64').length !== 32) {
    throw new Error(`${file} does not hold base64 of 32 bytes. Restore it (histories need it) or set PAYLOAD_KEY.`);
  }
  return { key, created: false };
}

function loopbackHost(host: string): string {
  return host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
}

/** Port claims for this configuration: which variable, what for, where. */
function portsToCheck(config: Config, embeddedTemporal: boolean): { port: number; host: string; what: string }[] {
  const ports = [
    { port: config.PORT, host: config.HOST, what: 'PORT (API and console)' },
    { port: config.SANDBOX_PORT, host: '127.0.0.1', what: 'SANDBOX_PORT (sandbox EHR)' },
  ];
  if (embeddedTemporal) {
    ports.push(
      { port: config.TEMPORAL_PORT, host: '127.0.0.1', what: 'TEMPORAL_PORT (Temporal dev server)' },
      { port: config.TEMPORAL_UI_PORT, host: '127.0.0.1', what: 'TEMPORAL_UI_PORT (Temporal UI)' },
    );
  }
  return ports;
}

function describeDemoCredentials(file: string): string[] {
  if (!existsSync(file))
    return [`(no ${file} yet: the API writes the demo tokens there when it seeds the demo clinic)`];
  try {
    // The file also holds the demo clinic's SMART private key: print only what a person types or pastes.
    const c = JSON.parse(readFileSync(file, 'utf8')) as {
      clinicId?: string;
      webhookSecret?: string;
      tokens?: Record<string, string>;
    };
    return [
      `clinic          ${c.clinicId ?? '?'}`,
      `webhook secret  ${c.webhookSecret ?? '?'}`,
      ...Object.entries(c.tokens ?? {}).map(([role, token]) => `${`${role} token`.padEnd(15)} ${token}`),
      `(kept in ${file}; \`npm run demo:traffic\` sends signed webhooks)`,
    ];
  } catch {
    return [`(${file} is not valid JSON)`];
  }
}

/** Each kind's own HTTP triggers (api/kinds/), signed like every webhook: where an EHR sends what. */
function describeKindTriggers(apiBase: string): string[] {
  const lines = KIND_APIS.flatMap((k) =>
    k.triggers.map((t) => `    ${k.kind}: ${t.method.toUpperCase()} ${apiBase}${t.path}  (${t.summary})`),
  );
  return lines.length ? ['  Kind triggers:', ...lines] : [];
}

/**
 * Runs the stack until Ctrl-C/SIGTERM (resolves 0) or until a process dies or never gets healthy (resolves 1).
 * Why one supervisor: a demo must come up with one command and never leave a server behind.
 */
export async function start(options: StartOptions = {}): Promise<number> {
  const t0 = Date.now();
  const env = { ...(options.env ?? process.env) };
  // `npm start` is the demo: seed the demo clinic unless DEMO is set otherwise. Deploys run the parts on their own.
  if (!env.DEMO) env.DEMO = '1';
  const write = options.write ?? ((text: string) => void process.stdout.write(text));
  const stopTimeoutMs = options.stopTimeoutMs ?? 10_000;

  let config: Config;
  try {
    config = loadConfig(env);
  } catch (err) {
    say(write, err instanceof Error ? err.message : String(err));
    return 1;
  }
  const dataDir = resolve(ROOT, config.DATA_DIR);
  mkdirSync(dataDir, { recursive: true });
  env.DATA_DIR = dataDir;
  if (!config.PAYLOAD_KEY) {
    try {
      const { key, created } = ensurePayloadKey(dataDir);
      env.PAYLOAD_KEY = key;
      if (created)
        say(write, `generated the Temporal payload key: ${join(dataDir, 'payload.key')} (keep it: histories need it)`);
    } catch (err) {
      say(write, err instanceof Error ? err.message : String(err));
      return 1;
    }
  }

  const externalTemporal = config.TEMPORAL_ADDRESS;
  const embedded = externalTemporal === undefined;
  const seen = new Map<number, string>();
  for (const { port, host, what } of portsToCheck(config, embedded)) {
    const clash = seen.get(port);
    if (clash) {
      say(write, `${what} and ${clash} are both ${port}; give them different ports.`);
      return 1;
    }
    seen.set(port, what);
    if (!(await isPortFree(port, host))) {
      say(write, `port ${port} on ${host} is already in use; it is ${what}. Stop whatever holds it, or set another.`);
      return 1;
    }
  }

  let temporal: DevServer | undefined;
  const children = new Map<string, ChildProcess>();
  let stopping = false;
  let resolveDone: (code: number) => void = () => undefined;
  const done = new Promise<number>((r) => (resolveDone = r));

  const prefixer = (name: string, index: number): ((line: string) => void) => {
    const color = process.stdout.isTTY ? COLORS[index % COLORS.length] : undefined;
    const label = name.padEnd(8);
    const tag = color ? `\x1b[${color}m${label}│\x1b[0m` : `${label}│`;
    return (line: string) => write(`${tag} ${line}\n`);
  };

  const stopChild = async (name: string, child: ChildProcess): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const signal = (sig: NodeJS.Signals): void => killGroup(child.pid, sig);
    signal('SIGTERM');
    const timer = setTimeout(() => {
      say(write, `${name} did not stop within ${stopTimeoutMs} ms; killing it`);
      signal('SIGKILL');
    }, stopTimeoutMs);
    await exited;
    clearTimeout(timer);
  };

  const shutdown = async (code: number, why: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    say(write, `${why}; stopping…`);
    await Promise.all([...children].reverse().map(([name, child]) => stopChild(name, child)));
    if (temporal) await temporal.stop(stopTimeoutMs);
    say(write, code === 0 ? 'stopped.' : `stopped (exit ${code}).`);
    resolveDone(code);
  };

  let firstSignalAt: number | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    // One Ctrl-C can arrive twice (from the terminal and relayed by npm/tsx): only a later one means "force".
    firstSignalAt ??= Date.now();
    if (Date.now() - firstSignalAt > 1_000) {
      // A second Ctrl-C: the user is done waiting.
      for (const child of children.values()) killGroup(child.pid, 'SIGKILL');
      temporal?.killNow();
      process.exit(130);
    }
    void shutdown(0, `${signal} received`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const backstop = (): void => {
    for (const child of children.values()) if (child.exitCode === null) killGroup(child.pid, 'SIGKILL');
    temporal?.killNow();
  };
  process.on('exit', backstop);

  const cleanup = (): void => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', backstop);
  };

  // 1. Temporal: the embedded dev server, unless a cluster was configured.
  let temporalUi: string;
  if (externalTemporal === undefined) {
    say(
      write,
      `starting the Temporal dev server on 127.0.0.1:${config.TEMPORAL_PORT} (state: ${join(dataDir, 'temporal.db')})`,
    );
    try {
      temporal = await startDevServer({
        dbFile: join(dataDir, 'temporal.db'),
        port: config.TEMPORAL_PORT,
        uiPort: config.TEMPORAL_UI_PORT,
        namespace: config.TEMPORAL_NAMESPACE,
        onOutput: prefixer('temporal', 0),
        readyTimeoutMs: 60_000,
      });
    } catch (err) {
      say(write, err instanceof Error ? err.message : String(err));
      cleanup();
      return 1;
    }
    env.TEMPORAL_ADDRESS = temporal.address;
    temporalUi = `http://127.0.0.1:${config.TEMPORAL_UI_PORT}`;
    void temporal.exited.then((code) => void shutdown(1, `the Temporal dev server exited unexpectedly (${code})`));
  } else {
    temporalUi = `(external Temporal at ${externalTemporal}: use its own UI)`;
    const plain = !config.TEMPORAL_API_KEY && !config.TEMPORAL_TLS; // answers() speaks plaintext gRPC only
    if (plain && !(await answers(externalTemporal, config.TEMPORAL_NAMESPACE, 5_000))) {
      say(
        write,
        `warning: Temporal at ${externalTemporal} does not answer yet (namespace ${config.TEMPORAL_NAMESPACE})`,
      );
    }
    try {
      const handle = await createTemporalClient(loadConfig(env), { connectTimeoutMs: 5_000 });
      const added = await ensureSearchAttributes(handle.client, config.TEMPORAL_NAMESPACE).finally(() =>
        handle.close(),
      );
      if (added.length) say(write, `registered search attributes: ${added.join(', ')}`);
    } catch (err) {
      say(write, `warning: could not check search attributes (${err instanceof Error ? err.message : String(err)})`);
    }
  }

  // 2. The children, in order; each leads its own process group so a stop reaches everything it spawned.
  const specs = options.children ?? CHILDREN;
  specs.forEach((spec, i) => {
    if (stopping) return;
    const child = spawn(process.execPath, ['--import', 'tsx', resolve(ROOT, spec.entry)], {
      cwd: ROOT,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.set(spec.name, child);
    const out = prefixer(spec.name, i + 1);
    createInterface({ input: child.stdout }).on('line', out);
    createInterface({ input: child.stderr }).on('line', out);
    child.once('error', (err) => void shutdown(1, `${spec.name} could not start (${err.message})`));
    child.once('exit', (code, signal) => {
      if (!stopping) void shutdown(1, `${spec.name} exited unexpectedly (${signal ?? `code ${code}`})`);
    });
  });

  // 3. Ready when every part is: the API answers /health with `status: ok`, i.e. the database and Temporal answer, a
  // worker polls the task queue and (demo) the sandbox EHR listens with the demo client registered. A 200 alone is
  // not enough: the API answers before the worker polls, and the first webhook would wait (or find no EHR).
  const apiBase = `http://${loopbackHost(config.HOST)}:${config.PORT}`;
  const healthTimeoutMs = options.healthTimeoutMs ?? 120_000;
  const required = ['database', 'temporal', 'worker', ...(config.DEMO ? ['ehr'] : [])];
  let waitingFor = ['api', ...required];
  const healthy = await (async () => {
    const deadline = Date.now() + healthTimeoutMs;
    while (!stopping && Date.now() < deadline) {
      let notReady = ['api'];
      try {
        const res = await fetch(`${apiBase}/health`, { signal: AbortSignal.timeout(5_000) });
        const body = (await res.json()) as { status?: string; parts?: Record<string, string> };
        notReady = required.filter((part) => body.parts?.[part] !== 'ok');
        if (res.status === 200 && body.status === 'ok' && notReady.length === 0) return true;
      } catch {
        // not listening yet
      }
      if (notReady.join() !== waitingFor.join()) say(write, `waiting for: ${notReady.join(', ')}`);
      waitingFor = notReady;
      await new Promise((r) => setTimeout(r, 250));
    }
    return false;
  })();
  if (!healthy && !stopping) {
    void shutdown(
      1,
      `not ready within ${healthTimeoutMs / 1000} s: ${waitingFor.join(', ')} not ready (${apiBase}/health; see the output above)`,
    );
  }
  if (healthy && !stopping) {
    const sandbox = `http://127.0.0.1:${config.SANDBOX_PORT}/fhir/R4`;
    const banner = [
      '',
      `ehr-autopilot is up (healthy after ${((Date.now() - t0) / 1000).toFixed(1)} s: ${required.join(', ')} ready)`,
      `  API           ${apiBase}`,
      `  OpenAPI docs  ${apiBase}/docs   (spec: ${apiBase}/openapi.json)`,
      `  Console       ${apiBase}/`,
      `  Temporal UI   ${temporalUi}`,
      `  Sandbox FHIR  ${sandbox}`,
      `  Metrics       ${apiBase}/metrics (API), ${
        config.WORKER_METRICS_PORT === 0
          ? 'worker: off (WORKER_METRICS_PORT=0)'
          : `http://${config.WORKER_METRICS_HOST}:${config.WORKER_METRICS_PORT}/metrics (worker + Temporal SDK)`
      }${config.METRICS_TOKEN ? ' (Bearer METRICS_TOKEN)' : ''}`,
      `  Traces        ${config.OTEL_EXPORTER_OTLP_ENDPOINT ? `OTLP to ${config.OTEL_EXPORTER_OTLP_ENDPOINT}/v1/traces` : 'off (set OTEL_EXPORTER_OTLP_ENDPOINT)'}`,
      `  Data dir      ${dataDir}`,
      ...describeKindTriggers(apiBase),
      ...(config.DEMO
        ? [
            // SMART App Launch: the sandbox EHR opens the console for a patient, as the demo doctor (api/seed.ts).
            `  SMART launch  http://127.0.0.1:${config.SANDBOX_PORT}/launch?app=${encodeURIComponent(`${apiBase}/smart/launch`)}&patient=pat-0001&practitioner=pract-pcp-1`,
            '  Demo credentials:',
            ...describeDemoCredentials(join(dataDir, 'demo-credentials.json')).map((l) => `    ${l}`),
          ]
        : ['  (DEMO is off: no demo clinic; onboard clinics through /v1/clinics)']),
      '',
      'Ctrl-C stops everything.',
      '',
    ];
    write(`${banner.join('\n')}\n`);
  }

  const code = await done;
  cleanup();
  return code;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const envFile = join(ROOT, '.env');
  if (existsSync(envFile)) process.loadEnvFile(envFile); // the shell's own variables win
  process.exit(await start());
}
