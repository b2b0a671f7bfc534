// The Grafana dashboard (docs/grafana/ehr-autopilot.json) read as data: its PromQL expressions and the metric names
// they name, for the tests that hold it to the metrics the code registers (test/repo/grafana-dashboard.test.ts) and
// the Temporal SDK serves (test/activities/worker-metrics.test.ts).
import { readFileSync } from 'node:fs';

export const DASHBOARD_PATH = new URL('../../docs/grafana/ehr-autopilot.json', import.meta.url);

interface Panel {
  type: string;
  title: string;
  datasource?: { uid?: string };
  targets?: { expr: string; datasource?: { uid?: string } }[];
}
export interface Dashboard {
  __inputs: { name: string; type: string; pluginId: string }[];
  panels: Panel[];
  templating: { list: { name: string; query: { query: string } | string; datasource?: { uid?: string } }[] };
}

export function readDashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD_PATH, 'utf8')) as Dashboard;
}

/** Every PromQL expression of the dashboard: each panel target's, and each query variable's. */
export function dashboardExpressions(d: Dashboard = readDashboard()): string[] {
  const exprs = d.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
  for (const v of d.templating.list) exprs.push(typeof v.query === 'string' ? v.query : v.query.query);
  return exprs;
}

const KEYWORDS = new Set(['by', 'without', 'and', 'or', 'unless', 'bool', 'offset', 'on', 'ignoring']);

/**
 * The metric names a PromQL expression selects: identifiers outside label matchers, ranges, strings and grouping
 * lists that are not functions, keywords or numbers. Grafana's `label_values(metric, label)` names its first argument.
 */
export function promqlMetricNames(expr: string): string[] {
  const labelValues = /^label_values\(\s*([a-zA-Z_:][\w:]*)\s*,\s*\w+\s*\)$/.exec(expr.trim());
  if (labelValues) return [labelValues[1]!];
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names: string[] = [];
  for (const m of stripped.matchAll(/[a-zA-Z_:][\w:]*/g)) {
    const after = stripped.slice(m.index + m[0].length);
    if (/^\s*\(/.test(after) || KEYWORDS.has(m[0])) continue;
    names.push(m[0]);
  }
  return [...new Set(names)];
}
