// `npm start` (scripts/start.ts) reports the product ready only when /health says every part is: a 200 alone comes
// before the worker polls and the sandbox EHR listens. The API child is a stand-in (test/fixtures/fake-api.ts); the
// Temporal server is the run's own.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, inject, test } from 'vitest';
import { start } from '../../scripts/start.ts';
import { findFreePort } from '../../scripts/temporal-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'ehr-autopilot-start-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function runStart(readyAt: number, healthTimeoutMs: number) {
  const lines: { at: number; text: string }[] = [];
  const code = await start({
    env: {
      PATH: process.env.PATH,
      DATA_DIR: mkdtempSync(join(dir, 'data-')),
      PORT: String(await findFreePort()),
      SANDBOX_PORT: String(await findFreePort()),
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      READY_AT: String(readyAt),
      LOG_LEVEL: 'warn',
    },
    children: [{ name: 'api', entry: 'test/fixtures/fake-api.ts' }],
    healthTimeoutMs,
    write: (text) =>
      lines.push(
        ...text
          .split('\n')
          .filter((t) => t !== '')
          .map((t) => ({ at: Date.now(), text: t })),
      ),
  });
  return { code, lines };
}

test('says "up" only once every part is ready, naming what it waits for meanwhile', async () => {
  const readyAt = Date.now() + 4000;
  const { lines } = await runStart(readyAt, 60_000);
  const texts = lines.map((l) => l.text);
  const up = lines.find((l) => l.text.startsWith('ehr-autopilot is up'));
  expect(up, texts.join('\n')).toBeDefined();
  expect(up!.at).toBeGreaterThanOrEqual(readyAt);
  expect(up!.text).toMatch(/database, temporal, worker, ehr ready\)$/);
  expect(texts).toContain('[start] waiting for: worker, ehr');
  expect(texts.indexOf('[start] waiting for: worker, ehr')).toBeLessThan(texts.indexOf(up!.text));
  // npm start seeds the demo clinic: DEMO=1 unless set otherwise.
  expect(texts).toContain('  Demo credentials:');
  // Each kind's own triggers, from the API's kind registry (api/kinds/): the refill webhook, with its path.
  expect(texts).toContain('  Kind triggers:');
  expect(texts).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/^ {4}refill: POST http:\/\/\S+\/v1\/webhooks\/\{clinicId\}\/refill-requests {2}\(An EHR/),
    ]),
  );
});

test('a part that never gets ready: stops everything and names it', async () => {
  const { code, lines } = await runStart(0, 3000);
  const texts = lines.map((l) => l.text);
  expect(code).toBe(1);
  expect(texts.some((t) => t.startsWith('ehr-autopilot is up'))).toBe(false);
  expect(texts).toEqual(
    expect.arrayContaining([
      expect.stringMatching(
        /^\[start\] not ready within 3 s: worker, ehr not ready \(http:\/\/127\.0\.0\.1:\d+\/health/,
      ),
    ]),
  );
});
