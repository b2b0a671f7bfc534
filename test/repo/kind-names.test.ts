// "No engine file mentions a kind by name, except the registry that lists the kinds" (issue 8), as a test: every
// code file outside a kind's own places is searched for the names of the registry's kinds (`refill`, `care-gap`,
// also spelt `careGap` / `care_gap`), in its identifiers and string literals; comments are prose and not searched.
// The only engine files exempt are tooling that drives one kind on purpose and released migrations (TOOLING,
// HISTORY below); an exempt file that no longer names a kind fails the test too, so the exemptions stay true.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, test } from 'vitest';
import { KIND_IDS } from '../../rules/kinds/index.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Folders holding engine code (tests, docs and the sandbox EHR are not engine). */
const ENGINE_DIRS = ['rules', 'facts', 'connectors', 'activities', 'workflows', 'api', 'cli', 'scripts', 'bin'];
const CODE = /\.(ts|js|mjs|cjs)$/;

/** Where a kind's own files live (rules/kinds/types.ts): files there may name their kind. */
function ownedByAKind(file: string): boolean {
  return KIND_IDS.some(
    (k) =>
      file.startsWith(`rules/kinds/${k}/`) ||
      file.startsWith(`facts/${k}/`) ||
      file.startsWith(`activities/kinds/${k}/`) ||
      file === `workflows/${k}.ts` ||
      file.startsWith(`workflows/${k}-`) ||
      file === `api/console/kinds/${k}.js` ||
      file.startsWith(`api/kinds/${k}/`) ||
      file === `cli/kinds/${k}.ts`,
  );
}

/** The registries: the one list of kinds per layer. */
const REGISTRIES = new Set([
  'rules/kinds/index.ts', // the kinds (declarations, built-ins)
  'api/console/kinds/index.js', // the console's renderer per kind
  'activities/kinds/index.ts', // each kind's activities for the worker
  'workflows/index.ts', // the workflow functions the worker bundles (one per kind)
  'api/kinds/index.ts', // each kind's HTTP triggers, workflow messages and legacy clinic fields for the API
  'facts/index.ts', // each kind's facts extraction from an uploaded FHIR Bundle
  'cli/kinds/index.ts', // each kind's CLI part: its own commands (`triage`), how `evaluate` prints its decision
]);

/**
 * TOOLING: not engine, and exempt by design (not a to-do list): files that exercise named kinds on purpose. A
 * benchmark or demo traffic drives one kind's contract end to end (its webhook, its protocols), so it names it.
 */
const TOOLING: Record<string, string> = {
  'scripts/bench.ts': 'refill throughput benchmark: posts refill webhooks and times the cases',
  'scripts/bench-simulation.ts': 'refill simulation benchmark: simulates refill protocols over recorded cases',
  'scripts/bench-refill.ts': 'refill throughput benchmark (one run, used by bench.ts before and after the redesign)',
  'scripts/bench-scale.ts': 'scale-out benchmark: posts refill webhooks across API replicas, counts refill Tasks',
  'scripts/record-histories.ts': 'records refill workflow histories for the replay test: posts refill webhooks',
  'scripts/demo-traffic.ts': 'demo traffic: posts signed refill webhooks to the demo clinic',
  'scripts/demo-policies.ts': 'runs the demo traffic under each signing policy, refill requests only (--care-gaps 0)',
  'scripts/cds-latency.ts': 'CDS Hooks latency: calls the refill kind’s medication-refill service and times it',
  'scripts/bench-analytics.ts':
    'analytics benchmark: generates refill and care-gap cases in bulk, as production stores them',
};

/**
 * HISTORY: immutable, exempt too. Released migrations are never edited (connectors/db/migrations.ts: add a new one
 * instead), and they name the kinds of their time: 0007/0008 make every earlier case and protocol a refill, 0010
 * moves the refill automation switch into clinic_kinds.
 */
const HISTORY: Record<string, string> = {
  'connectors/db/migrations.ts': 'released migrations (immutable) name the kinds they migrated',
};

/** Files that may name a kind without being a kind's own place or a registry: TOOLING and HISTORY. */
const EXEMPT: Record<string, string> = { ...TOOLING, ...HISTORY };

/** The names of a kind as code spells them: `care-gap`, `careGap`, `care_gap`, `CareGap`, `CARE_GAP`. */
function kindPattern(ids: readonly string[]): RegExp {
  return new RegExp(ids.map((id) => id.split('-').join('[-_]?')).join('|'), 'i');
}

/** The identifiers and string literals of a source file (its code, not its comments), one per line. */
export function codeNames(source: string, fileName: string): string[] {
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, false);
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    if (
      ts.isIdentifier(node) ||
      ts.isPrivateIdentifier(node) ||
      ts.isStringLiteralLike(node) ||
      ts.isTemplateHead(node) ||
      ts.isTemplateMiddle(node) ||
      ts.isTemplateTail(node) ||
      ts.isRegularExpressionLiteral(node) ||
      ts.isJsxText(node)
    ) {
      out.push(node.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

function walk(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    return statSync(join(ROOT, path)).isDirectory() ? walk(path) : [path];
  });
}

function engineFilesNamingAKind(): Map<string, string[]> {
  const pattern = kindPattern(KIND_IDS);
  const found = new Map<string, string[]>();
  for (const dir of ENGINE_DIRS) {
    for (const file of walk(dir).map((f) => relative(ROOT, join(ROOT, f)).split('\\').join('/'))) {
      if (!CODE.test(file) || ownedByAKind(file) || REGISTRIES.has(file)) continue;
      const hits = codeNames(readFileSync(join(ROOT, file), 'utf8'), file).filter((n) => pattern.test(n));
      if (hits.length) found.set(file, [...new Set(hits)]);
    }
  }
  return found;
}

describe('kind names in engine files', () => {
  test('the search finds a kind named in code and ignores comments', () => {
    const pattern = kindPattern(['refill', 'care-gap']);
    const names = (src: string) => codeNames(src, 'probe.ts').filter((n) => pattern.test(n));
    expect(names("const k = 'care-gap';")).toEqual(['care-gap']);
    expect(names('export function startCareGap() {}')).toEqual(['startCareGap']);
    expect(names('const x = `${a}_care_gap_${b}`;')).toEqual(['_care_gap_']);
    expect(names('const refillAutomationEnabled = true;')).toEqual(['refillAutomationEnabled']);
    expect(names('// a refill, a care gap\n/** careGap */\nconst y = 1;')).toEqual([]);
  });

  test('no engine file outside the kinds’ own places and the registries names a kind, but the exempt ones', () => {
    const found = engineFilesNamingAKind();
    const unexpected = [...found].filter(([file]) => !(file in EXEMPT));
    expect(
      unexpected.map(([file, names]) => `${file}: ${names.slice(0, 5).join(', ')}`),
      'engine files naming a kind: move the kind code to rules/kinds/<k>/, facts/<k>/, activities/kinds/<k>/, ' +
        'workflows/<k>.ts, api/kinds/<k>/, api/console/kinds/<k>.js or cli/kinds/<k>.ts, or ask a registry',
    ).toEqual([]);
  });

  test('the exemptions stay true: every exempt file exists and still names a kind', () => {
    const found = engineFilesNamingAKind();
    const stale = Object.keys(EXEMPT).filter((file) => !found.has(file));
    expect(stale, 'remove these from TOOLING / HISTORY: they no longer name a kind (or are gone)').toEqual([]);
  });
});
