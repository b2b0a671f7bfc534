// Worker-thread side of the parallel simulation (activities/simulation.ts): compiles the protocol once, then
// evaluates the chunks of recorded cases the main thread sends until it is terminated.
import { parentPort, workerData } from 'node:worker_threads';
import { parseProtocol } from '../../../rules/kinds/refill/protocol.ts';
import {
  compileForSimulation,
  evaluateChunk,
  type SimulationCase,
} from '../../../rules/kinds/refill/simulate-compiled.ts';

const port = parentPort;
if (!port) throw new Error('simulation-worker runs as a worker thread');
const evaluate = compileForSimulation(parseProtocol((workerData as { protocol: unknown }).protocol));
port.on('message', (message: { chunk: number; cases: (SimulationCase | string)[] }) => {
  const result = evaluateChunk(evaluate, message.cases);
  port.postMessage({ chunk: message.chunk, ...result }, [
    result.before.buffer as ArrayBuffer,
    result.dispositions.buffer as ArrayBuffer,
  ]);
});
port.postMessage({ ready: true });
