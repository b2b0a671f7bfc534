// The Grafana dashboard cannot rot: every PromQL expression in it names only metrics this code registers (a
// histogram by its _bucket, _sum or _count series) or, for the Temporal SDK's, metrics the worker's endpoint was seen
// serving (test/activities/worker-metrics.test.ts checks those against a real scrape).
import { describe, expect, test } from 'vitest';
import { metricsText, registeredMetricNames } from '../../connectors/telemetry/metrics.ts';
import { dashboardExpressions, promqlMetricNames, readDashboard } from '../helpers/dashboard.ts';

async function servedNames(): Promise<Set<string>> {
  await metricsText(); // registers the default process and Node.js metrics, as the first scrape does
  const names = new Set<string>();
  for (const name of registeredMetricNames()) {
    for (const suffix of ['', '_bucket', '_sum', '_count']) names.add(name + suffix);
  }
  return names;
}

describe('docs/grafana/ehr-autopilot.json', () => {
  test('the PromQL parser finds metric names and only them', () => {
    expect(
      promqlMetricNames(
        'histogram_quantile(0.95, sum by (le, interaction) (rate(autopilot_fhir_request_duration_seconds_bucket{x="a_b"}[5m])))',
      ),
    ).toEqual(['autopilot_fhir_request_duration_seconds_bucket']);
    expect(promqlMetricNames('sum(rate(a_total{s!="2xx"}[5m])) / scalar(sum(rate(b_total[5m])))')).toEqual([
      'a_total',
      'b_total',
    ]);
    expect(promqlMetricNames('label_values(autopilot_cases_routed_total, clinic)')).toEqual([
      'autopilot_cases_routed_total',
    ]);
  });

  test('every expression names only metrics the code registers (Temporal SDK metrics aside)', async () => {
    const served = await servedNames();
    const exprs = dashboardExpressions();
    expect(exprs.length).toBeGreaterThanOrEqual(15);
    for (const expr of exprs) {
      const names = promqlMetricNames(expr);
      expect(names.length, expr).toBeGreaterThan(0);
      for (const name of names.filter((n) => !n.startsWith('temporal_'))) {
        expect(served.has(name), `${name} in ${expr}`).toBe(true);
      }
    }
    // A name the code does not register would be caught.
    expect(served.has('autopilot_no_such_metric_total')).toBe(false);
    // Every metric of ours is on the dashboard.
    const used = new Set(exprs.flatMap(promqlMetricNames).map((n) => n.replace(/_(bucket|sum|count)$/, '')));
    for (const name of registeredMetricNames().filter((n) => n.startsWith('autopilot_'))) {
      expect(used.has(name), name).toBe(true);
    }
  });

  test('ready to import: a ${DS_PROMETHEUS} input that every panel and variable uses', () => {
    const d = readDashboard();
    expect(d.__inputs).toEqual([
      expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' }),
    ]);
    for (const p of d.panels.filter((x) => x.type !== 'row')) {
      expect(p.datasource?.uid, p.title).toBe('${DS_PROMETHEUS}');
      for (const t of p.targets ?? []) expect(t.datasource?.uid, p.title).toBe('${DS_PROMETHEUS}');
    }
    for (const v of d.templating.list) expect(v.datasource?.uid).toBe('${DS_PROMETHEUS}');
  });
});
