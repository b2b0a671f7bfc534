import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import type { SimulationReport } from '../../../rules/kinds/refill/simulate.ts';
import type { ProtocolDefinition } from '../../../rules/kinds/refill/protocol.ts';
import {
  compileForSimulation,
  evaluateChunk,
  mergeChunks,
  slimCase,
  type ChunkResult,
  type SimulationCase,
} from '../../../rules/kinds/refill/simulate-compiled.ts';

export type { SimulationCase } from '../../../rules/kinds/refill/simulate-compiled.ts';

export interface SimulateOptions {
  /**
   * Worker threads besides the calling thread (which evaluates too). Default 0: everything on the calling thread.
   * Workers pay only for cases given as stored JSON text on an otherwise idle multi-core host (starting one costs
   * ~0.5–1.5 s, and copying a parsed case to a thread costs ~3× evaluating it); BENCHMARKS.md has the numbers.
   */
  workers?: number;
  /** Cases per unit of work handed out. Default 2,000. */
  chunkSize?: number;
  /** Called after each chunk with cases evaluated so far ("long runs report progress"). */
  onProgress?: (done: number, total: number) => void;
}

const WORKER_URL = new URL('./simulation-worker.ts', import.meta.url).href;

/**
 * Starts a worker thread running simulation-worker.ts. The repo runs TypeScript through tsx without a build, so the
 * worker first registers tsx's loader (a constant bootstrap; nothing from the protocol or the cases is evaluated).
 */
function startWorker(protocol: ProtocolDefinition): Worker {
  const tsx = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(WORKER_URL)}); });`;
  return new Worker(bootstrap, { eval: true, workerData: { protocol } });
}

/**
 * Re-evaluates `protocol` against recorded cases (objects, or the JSON text they are stored as) with the compiled
 * evaluator (decisions identical to
 * `evaluateProtocol`, property-tested) and compares with the decisions recorded at the time; same report as
 * `rules/engine/simulate.ts`'s `simulateProtocol`, about 30× faster (100,000 cases in ~2–3.5 s on one core here).
 * With `workers`, chunks are handed out to worker threads and the calling thread as they free up.
 *
 * @throws AppError `PROTOCOL_INVALID` when the protocol cannot be compiled; a worker's failure rejects the run.
 */
export async function simulateProtocolFast(
  protocol: ProtocolDefinition,
  cases: readonly (SimulationCase | string)[],
  opts: SimulateOptions = {},
): Promise<SimulationReport> {
  const total = cases.length;
  const chunkSize = Math.max(1, opts.chunkSize ?? 2_000);
  const workerCount = Math.max(0, opts.workers ?? 0);
  const evaluate = compileForSimulation(protocol);
  const chunks = Math.ceil(total / chunkSize);
  const results: (ChunkResult | undefined)[] = new Array<ChunkResult | undefined>(chunks);
  const slice = (i: number) => cases.slice(i * chunkSize, Math.min(total, (i + 1) * chunkSize));
  let next = 0;
  let done = 0;
  const record = (i: number, r: ChunkResult): void => {
    results[i] = r;
    done += r.dispositions.length;
    opts.onProgress?.(done, total);
  };

  const workers = Array.from({ length: Math.min(workerCount, Math.max(0, chunks - 1)) }, () => startWorker(protocol));
  // Chunks out with a worker; the run is complete when the calling thread has none left and this is empty.
  const outstanding = new Set<number>();
  let failure: Error | null = null;
  let wake: (() => void) | null = null;
  const settle = (): void => {
    wake?.();
    wake = null;
  };
  for (const w of workers) {
    const feed = (): void => {
      if (failure || next >= chunks) return settle();
      const i = next++;
      outstanding.add(i);
      w.postMessage({ chunk: i, cases: slice(i).map((c) => (typeof c === 'string' ? c : slimCase(c))) });
    };
    w.on('message', (m: { ready: true } | ({ chunk: number } & ChunkResult)) => {
      if ('chunk' in m) {
        outstanding.delete(m.chunk);
        record(m.chunk, m);
      }
      feed();
    });
    w.on('error', (e) => {
      failure ??= e;
      settle();
    });
    w.on('exit', (code) => {
      failure ??= new Error(`simulation worker exited early (code ${code})`);
      settle();
    });
  }
  try {
    // The calling thread takes chunks too, yielding between them so worker results and requests are served.
    while (next < chunks && !failure) {
      const i = next++;
      record(i, evaluateChunk(evaluate, slice(i)));
      if (workers.length) await yieldToEventLoop();
    }
    while (outstanding.size > 0 && !failure) await new Promise<void>((resolve) => (wake = resolve));
    const failed = failure as Error | null;
    if (failed) throw failed;
  } finally {
    for (const w of workers) {
      w.removeAllListeners('exit');
      void w.terminate();
    }
  }

  if (results.some((r) => !r)) throw new Error('simulation lost a chunk');
  return mergeChunks(results as ChunkResult[]);
}
