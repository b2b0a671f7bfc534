// `npm run bench:simulation` (also the second half of `npm run bench`): how fast a protocol version can be simulated
// against recorded cases (issue 4 §6: 100,000 cases in at most 5 s on this 2-core machine).
//
// Recorded cases: 5,000 real facts snapshots (synthetic clinics through extractRefillFacts, 5 seeds × 1,000 patients)
// replicated with deterministic edge mutations to 100,000, each with the decision the reference protocol gives. The
// candidate is the reference with every visit/lab window one month shorter. Measures json-rules-engine
// (evaluateProtocol) on a sample, the compiled evaluator on all cases, and the simulation on one thread and on all
// cores, and checks that every path reports the same thing. Merges a "simulation" key into BENCHMARKS.json and a
// "Protocol simulation" section into BENCHMARKS.md (replacing an earlier one).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { simulateProtocolFast } from '../activities/kinds/refill/simulation.ts';
import { compileProtocol } from '../rules/kinds/refill/compile.ts';
import { evaluateProtocol } from '../rules/kinds/refill/evaluate.ts';
import { simulateProtocol, type RecordedCase } from '../rules/kinds/refill/simulate.ts';
import { parseProtocol, type Condition, type ProtocolDefinition } from '../rules/kinds/refill/protocol.ts';
import { findBuiltinProtocol } from '../rules/kinds/refill/protocols/index.ts';
import { refillFactsCorpus, syntheticRefillFacts } from '../sandbox/synthetic/facts-corpus.ts';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '100000' },
    clinics: { type: 'string', default: '5' },
    patients: { type: 'string', default: '1000' },
    'jre-sample': { type: 'string', default: '2000' },
  },
});
const CASES = Number(values.cases);
const CLINICS = Number(values.clinics);
const PATIENTS = Number(values.patients);
const JRE_SAMPLE = Number(values['jre-sample']);
const ASOFS = ['2026-06-15', '2026-08-31', '2028-02-29', '2026-03-31', '2025-12-31'];

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const seconds = (ms: number) => round(ms / 1000, 2);
async function timed<T>(fn: () => Promise<T> | T): Promise<{ value: T; ms: number }> {
  const t = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t };
}

/** Every visit/lab window of the protocol one month shorter: the kind of edit a committee simulates. */
function shorterWindows(p: ProtocolDefinition): ProtocolDefinition {
  const copy = structuredClone(p);
  const walk = (c: Condition): void => {
    if ('all' in c) c.all.forEach(walk);
    else if ('any' in c) c.any.forEach(walk);
    else if ('not' in c) walk(c.not);
    else if ('fact' in c && /MonthsAgo$|^withinMonths$/.test(c.operator))
      c.value = Math.max(1, (c.value as number) - 1);
  };
  Object.values(copy.conditions ?? {}).forEach(walk);
  for (const r of [...copy.routes, ...copy.guards, ...copy.bridgeSupply]) walk(r.when);
  for (const cat of copy.categories) {
    walk(cat.when);
    for (const r of cat.criteria) walk(r.when);
    cat.supply?.forEach((s) => walk(s.when));
    cat.actions?.forEach((a) => walk(a.when));
  }
  return parseProtocol({ ...copy, version: copy.version + 1 });
}

const loadBefore = loadavg()[0] ?? NaN;
const reference = findBuiltinProtocol('family-medicine-2015') as ProtocolDefinition;
const candidate = shorterWindows(reference);

const built = await timed(() =>
  Array.from({ length: CLINICS }, (_, i) =>
    syntheticRefillFacts({ seed: 4_000 + i, patients: PATIENTS, asOf: ASOFS[i % ASOFS.length] as string }),
  ).flat(),
);
const base = built.value;
const facts = refillFactsCorpus(base, CASES, 100_000);
const recordAll = compileProtocol(reference);
const cases: RecordedCase[] = facts.map((f, i) => ({
  caseId: `case-${i}`,
  recordedAt: f.asOf,
  facts: f,
  decision: recordAll(f),
}));
const texts = cases.map((c) => JSON.stringify(c));
console.log(`${base.length} extracted facts snapshots in ${seconds(built.ms)} s; ${CASES} cases`);

// json-rules-engine: a spread-out sample (one run per case is ~1 ms; 100,000 would take minutes).
const sample = cases.filter((_, i) => i % Math.max(1, Math.floor(CASES / JRE_SAMPLE)) === 0).slice(0, JRE_SAMPLE);
const jre = await timed(async () => {
  for (const c of sample) await evaluateProtocol(candidate, c.facts);
});
const jrePerS = sample.length / (jre.ms / 1000);

// Compiled, full decisions (explanations and evidence), one thread.
const compiled = compileProtocol(candidate);
const compiledRun = await timed(() => {
  for (const c of cases) compiled(c.facts);
});

const oneThread = await timed(() => simulateProtocolFast(candidate, cases, { workers: 0 }));
const textOneThread = await timed(() => simulateProtocolFast(candidate, texts, { workers: 0 }));
const textAllCores = await timed(() => simulateProtocolFast(candidate, texts, { workers: availableParallelism() - 1 }));

// The paths must agree: with each other on all cases, and with json-rules-engine's simulation on the sample.
const sampleReference = await simulateProtocol(candidate, sample);
const sampleFast = await simulateProtocolFast(candidate, sample, { workers: 0 });
const agree = {
  oneThreadVsAllCores: isDeepStrictEqual(oneThread.value, textAllCores.value),
  objectsVsText: isDeepStrictEqual(oneThread.value, textOneThread.value),
  compiledVsJsonRulesEngineOnSample: isDeepStrictEqual(sampleReference, sampleFast),
};
if (!Object.values(agree).every(Boolean)) throw new Error(`simulation paths disagree: ${JSON.stringify(agree)}`);

const perS = (ms: number) => Math.round(CASES / (ms / 1000));
const report = oneThread.value;
const simulation = {
  at: new Date().toISOString(),
  machine: { cpus: availableParallelism(), model: cpus()[0]?.model.trim() ?? 'unknown', node: process.version },
  loadAverage1m: { before: round(loadBefore, 2), after: round(loadavg()[0] ?? NaN, 2) },
  cases: CASES,
  extractedSnapshots: base.length,
  candidate: 'family-medicine-2015 with every visit/lab window one month shorter',
  jsonRulesEngine: {
    sample: sample.length,
    casesPerSecond: Math.round(jrePerS),
    estimatedSecondsFor100k: round(100_000 / jrePerS, 1),
  },
  compiledFullDecisions: { threads: 1, casesPerSecond: perS(compiledRun.ms), seconds: seconds(compiledRun.ms) },
  simulation: {
    oneThreadParsed: { casesPerSecond: perS(oneThread.ms), seconds: seconds(oneThread.ms) },
    oneThreadFromJsonText: { casesPerSecond: perS(textOneThread.ms), seconds: seconds(textOneThread.ms) },
    allCoresFromJsonText: {
      threads: availableParallelism(),
      casesPerSecond: perS(textAllCores.ms),
      seconds: seconds(textAllCores.ms),
    },
  },
  result: {
    before: report.before,
    after: report.after,
    changed: report.changed.length,
  },
  agree,
};
console.log(JSON.stringify(simulation, null, 2));

const json = existsSync('BENCHMARKS.json')
  ? (JSON.parse(readFileSync('BENCHMARKS.json', 'utf8')) as Record<string, unknown>)
  : {};
writeFileSync('BENCHMARKS.json', JSON.stringify({ ...json, simulation }, null, 2) + '\n');

const START = '<!-- simulation:start -->';
const END = '<!-- simulation:end -->';
const s = simulation;
const pct = (x: number | null) => (x === null ? 'n/a' : `${round(x * 100, 1)} %`);
const textGain = s.simulation.oneThreadFromJsonText.seconds / s.simulation.allCoresFromJsonText.seconds;
const multiCore =
  textGain > 1.05
    ? `all cores were ${round(textGain, 2)}× faster than one thread on JSON text`
    : `all cores were not faster than one thread on JSON text (${round(textGain, 2)}×; with the load above, the cores were not free)`;
const section = `${START}
## Protocol simulation

Generated by \`npm run bench:simulation\` on ${s.at} (${s.machine.cpus} × ${s.machine.model}, Node ${s.machine.node};
1-minute load average ${s.loadAverage1m.before} before, ${s.loadAverage1m.after} after: other work shared the cores).
${s.cases.toLocaleString('en-US')} recorded cases: ${s.extractedSnapshots.toLocaleString('en-US')} facts snapshots extracted from synthetic clinics, replicated with
deterministic edge mutations, each with the reference protocol's decision; candidate: ${s.candidate}.

| evaluator | cases/s | time for ${s.cases.toLocaleString('en-US')} cases |
|---|---|---|
| json-rules-engine (\`evaluateProtocol\`, ${s.jsonRulesEngine.sample} sampled cases), 1 thread | ${s.jsonRulesEngine.casesPerSecond} | ~${s.jsonRulesEngine.estimatedSecondsFor100k} s (estimated) |
| compiled (\`compileProtocol\`), full decisions with explanations and evidence, 1 thread | ${s.compiledFullDecisions.casesPerSecond} | ${s.compiledFullDecisions.seconds} s |
| **simulation** (\`simulateCompiled\`, or \`simulateProtocolFast\` without workers), parsed cases, 1 thread | **${s.simulation.oneThreadParsed.casesPerSecond}** | **${s.simulation.oneThreadParsed.seconds} s** |
| simulation from stored JSON text (parse included), 1 thread | ${s.simulation.oneThreadFromJsonText.casesPerSecond} | ${s.simulation.oneThreadFromJsonText.seconds} s |
| simulation from stored JSON text, all ${s.simulation.allCoresFromJsonText.threads} cores (worker start included) | ${s.simulation.allCoresFromJsonText.casesPerSecond} | ${s.simulation.allCoresFromJsonText.seconds} s |

Outcome: automation rate ${pct(s.result.before.automationRate)} → ${pct(s.result.after.automationRate)}, ${s.result.changed.toLocaleString('en-US')} cases change disposition.
All paths agree (one thread vs all cores, objects vs JSON text, compiled vs json-rules-engine's \`simulateProtocol\` on the
sample). The compiled evaluator is proven identical to \`evaluateProtocol\` by \`test/rules/compile.test.ts\` (21,000
generated and mutated facts snapshots × the reference protocol, plus 7 edited protocols, deep-equal decisions).
Worker threads are opt-in (\`workers\`): copying a parsed case to a thread costs about three times evaluating it, so
they only help when cases arrive as stored JSON text (parsing is then spread too) and the cores are free; in this run
${multiCore}.
${END}
`;
const md = existsSync('BENCHMARKS.md') ? readFileSync('BENCHMARKS.md', 'utf8') : '# Benchmarks\n';
const i = md.indexOf(START);
const j = md.indexOf(END);
const merged =
  i >= 0 && j > i ? md.slice(0, i) + section + md.slice(j + END.length + 1) : `${md.trimEnd()}\n\n${section}`;
writeFileSync('BENCHMARKS.md', merged);
console.log('merged the simulation results into BENCHMARKS.md and BENCHMARKS.json');
