// The browser the tests launch is found without a system package: CHROMIUM_PATH, then PATH, then the npm-shipped one.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { chromiumVersion, launchChromium, resolveChromium } from '../helpers/chromium.ts';

const dir = mkdtempSync(join(tmpdir(), 'ehr-autopilot-chromium-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fakeBrowser(name: string): string {
  const file = join(dir, name);
  writeFileSync(file, '#!/bin/sh\necho "Fake Chromium 1.0"\n');
  chmodSync(file, 0o755);
  return file;
}

describe('resolveChromium', () => {
  test('CHROMIUM_PATH wins over a chromium on PATH', () => {
    const given = fakeBrowser('my-chrome');
    fakeBrowser('chromium');
    const r = resolveChromium({ CHROMIUM_PATH: given, PATH: dir });
    expect(r).toEqual({ executablePath: given, source: 'CHROMIUM_PATH', env: {} });
  });

  test('a CHROMIUM_PATH that does not run is an error naming it, not a silent fallback', () => {
    expect(() => resolveChromium({ CHROMIUM_PATH: join(dir, 'missing'), PATH: dir })).toThrow(/CHROMIUM_PATH=/);
  });

  test('then chromium or chromium-browser on PATH', () => {
    const only = mkdtempSync(join(dir, 'path-'));
    const browser = join(only, 'chromium-browser');
    writeFileSync(browser, '#!/bin/sh\n');
    chmodSync(browser, 0o755);
    expect(resolveChromium({ PATH: only })).toEqual({ executablePath: browser, source: 'PATH', env: {} });
  });

  test('with neither, the browser inside @sparticuz/chromium, unpacked and runnable', () => {
    const r = resolveChromium({ PATH: join(dir, 'empty') });
    expect(r.source).toBe('@sparticuz/chromium');
    expect(chromiumVersion(r)).toMatch(/^Chromium 140\./);
  });

  test('launchChromium renders a page (whichever browser this machine resolves)', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.setContent('<p id="p">rendered</p>');
      expect(await page.textContent('#p')).toBe('rendered');
      expect((await page.screenshot()).length).toBeGreaterThan(1000);
    } finally {
      await browser.close();
    }
  });
});
