// The peer FHIR server of `npm run test:peer`: HAPI FHIR JPA 8.8.0 (Maven Central) on H2 in memory, started from the
// small launcher in peer/hapi/. Built once with the machine's Maven into peer/hapi/target/ (git-ignored: ~255 jars,
// ~290 MB on the first fetch; later builds are offline), then started on a free loopback port per run.
//
//   npx tsx scripts/peer-hapi.ts            build if needed, start, print the base URL, stop on Ctrl-C
//   npx tsx scripts/peer-hapi.ts --build    only build (CI can warm the cache before the suite)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PROJECT = join(ROOT, 'peer', 'hapi');
const TARGET = join(PROJECT, 'target');
const STAMP = join(TARGET, 'build.sha256');
const READY = /^HAPI_PEER_READY (\d+) (\d+)$/;

/** Every file the build reads (the pom and the launcher's sources), hashed: the build is redone when one changes. */
function sourceHash(): string {
  const hash = createHash('sha256');
  const walk = (dir: string): string[] =>
    readdirSync(dir)
      .sort()
      .flatMap((name) => {
        const path = join(dir, name);
        return statSync(path).isDirectory() ? walk(path) : [path];
      });
  for (const file of [join(PROJECT, 'pom.xml'), ...walk(join(PROJECT, 'src'))]) {
    hash.update(relative(PROJECT, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex');
}

/**
 * Copies HAPI's dependencies into peer/hapi/target/lib and compiles the launcher, unless the last build was of the same
 * sources. `MVN` names the Maven binary (default `mvn` on PATH).
 * @throws Error with Maven's output when the build fails.
 */
export function buildHapiPeer(log: (line: string) => void = () => {}): { classpath: string; built: boolean } {
  const classpath = [join(TARGET, 'classes'), join(TARGET, 'lib', '*')].join(':');
  const hash = sourceHash();
  if (existsSync(STAMP) && readFileSync(STAMP, 'utf8').trim() === hash) return { classpath, built: false };
  const mvn = process.env.MVN ?? 'mvn';
  log(`peer-hapi: building with ${mvn} (the first build downloads ~290 MB from Maven Central)`);
  const run = spawnSync(mvn, ['-q', '-B', 'dependency:copy-dependencies', 'compile'], {
    cwd: PROJECT,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (run.error || run.status !== 0) {
    const output = `${run.stdout ?? ''}${run.stderr ?? ''}`.trim().split('\n').slice(-30).join('\n');
    throw new Error(`peer-hapi: the Maven build failed (${run.error?.message ?? `exit ${run.status}`}):\n${output}`);
  }
  writeFileSync(STAMP, `${hash}\n`);
  return { classpath, built: true };
}

export interface HapiPeer {
  /** `http://127.0.0.1:<port>/fhir` */
  baseUrl: string;
  pid: number;
  /** From the JVM's start to Jetty listening, as the launcher measured it. */
  startupMs: number;
  /** The JVM's resident set now (Linux /proc), in MiB; undefined elsewhere. */
  rssMiB(): number | undefined;
  /** Closes the launcher's stdin (it exits), SIGTERM after 5 s, SIGKILL after 15 s; resolves once it has exited. */
  stop(): Promise<void>;
  /** Synchronous SIGKILL, for `process.on('exit')` backstops. */
  killNow(): void;
}

export interface StartOptions {
  /** Default `HAPI_PEER_READY_TIMEOUT_MS` or 300 s: a loaded 2-core machine has taken over 80 s. */
  readyTimeoutMs?: number;
  /** Every line the JVM prints (warnings and errors only: see peer/hapi/src/main/resources/logback.xml). */
  onOutput?: (line: string) => void;
}

/**
 * Builds if needed, then starts the launcher on a free port (`JAVA` names the java binary, default `java`; Java 17+)
 * and resolves once `/fhir/metadata` answers 200.
 * @throws Error with the JVM's last output lines when it exits early or never becomes ready.
 */
export async function startHapiPeer(opts: StartOptions = {}): Promise<HapiPeer> {
  const { classpath } = buildHapiPeer(opts.onOutput);
  const java = process.env.JAVA ?? 'java';
  const readyTimeoutMs = opts.readyTimeoutMs ?? Number(process.env.HAPI_PEER_READY_TIMEOUT_MS ?? 300_000);
  // Serial GC and a 1 GiB heap: the smallest footprint that holds HAPI with the suite's data on 2 shared cores.
  const args = ['-XX:+UseSerialGC', '-Xmx1g', '-cp', classpath, 'ehrautopilot.peer.HapiPeer', '0'];
  const child = spawn(java, args, { cwd: PROJECT, stdio: ['pipe', 'pipe', 'pipe'] });
  const tail: string[] = [];
  let onReady: (port: number, ms: number) => void = () => {};
  const ready = new Promise<{ port: number; ms: number }>((resolve) => {
    onReady = (port, ms) => resolve({ port, ms });
  });
  lines(child, (line) => {
    const m = READY.exec(line);
    if (m) return onReady(Number(m[1]), Number(m[2]));
    tail.push(line);
    if (tail.length > 40) tail.shift();
    opts.onOutput?.(line);
  });
  const exited = new Promise<number | NodeJS.Signals>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'SIGKILL'));
    child.once('error', (err) => {
      tail.push(`spawn ${java}: ${err.message}`);
      resolve(127);
    });
  });
  let hasExited = false;
  void exited.then(() => (hasExited = true));
  const killNow = (): void => {
    if (!hasExited) child.kill('SIGKILL');
  };
  const fail = (why: string): Error => new Error(`peer-hapi: ${why}. Last output:\n${tail.join('\n')}`);

  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    ready,
    exited.then((code) => ({ exited: code })),
    new Promise<{ timeout: true }>((resolve) => (timer = setTimeout(() => resolve({ timeout: true }), readyTimeoutMs))),
  ]);
  clearTimeout(timer);
  if ('exited' in outcome) throw fail(`HAPI exited (${outcome.exited}) before it was ready`);
  if ('timeout' in outcome) {
    killNow();
    throw fail(`HAPI was not ready within ${readyTimeoutMs} ms`);
  }
  const baseUrl = `http://127.0.0.1:${outcome.port}/fhir`;
  const metadata = await fetch(`${baseUrl}/metadata`, { headers: { accept: 'application/fhir+json' } });
  if (!metadata.ok) {
    killNow();
    throw fail(`GET /fhir/metadata answered ${metadata.status}`);
  }

  return {
    baseUrl,
    pid: child.pid!,
    startupMs: outcome.ms,
    rssMiB() {
      try {
        const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
        return kb ? Math.round(Number(kb) / 1024) : undefined;
      } catch {
        return undefined;
      }
    },
    async stop() {
      if (hasExited) return;
      child.stdin?.end();
      const term = setTimeout(() => child.kill('SIGTERM'), 5_000);
      const kill = setTimeout(killNow, 15_000);
      await exited;
      clearTimeout(term);
      clearTimeout(kill);
    },
    killNow,
  };
}

function lines(child: ChildProcess, onLine: (line: string) => void): void {
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    let buffered = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buffered += chunk;
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      for (const line of parts) if (line.trim()) onLine(line);
    });
    stream.on('end', () => {
      if (buffered.trim()) onLine(buffered);
    });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes('--build')) {
    const { built } = buildHapiPeer((l) => console.log(l));
    console.log(built ? 'peer-hapi: built' : 'peer-hapi: up to date');
  } else {
    const peer = await startHapiPeer({ onOutput: (l) => console.error(l) });
    console.log(`HAPI FHIR 8.8.0 at ${peer.baseUrl} (started in ${peer.startupMs} ms, ${peer.rssMiB()} MiB RSS)`);
    const stop = (): void => void peer.stop().then(() => process.exit(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  }
}
