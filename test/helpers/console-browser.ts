// What every browser test of the console shares: one headless Chromium (test/helpers/chromium.ts), pages that record
// script errors and CSP violations (HTTP 4xx/5xx answers are expected and ignored), sign-in by pasting a token, and
// an accessibility check with axe-core injected into the page.
//
//   const cb = await ConsoleBrowser.launch(baseUrl);            // in beforeAll, once the app listens
//   afterEach(() => cb.expectNoProblems());                     // closes the test's contexts, then asserts
//   afterAll(() => cb.close());
//   const page = await cb.signedIn(token, { role: 'nurse' });
//   expect(await axeViolations(page)).toEqual([]);
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { expect } from 'vitest';
import { launchChromium } from './chromium.ts';

/** Flags that keep a headless test browser from calling home or racing QUIC against the loopback server. */
const QUIET_ARGS: readonly string[] = [
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const VIEWPORT = { width: 1360, height: 1000 };

export interface SignInOptions {
  /** Wait until the header shows this role (else only until it shows any role). */
  role?: string;
  /** Path and hash to open before signing in (default `/`). */
  path?: string;
  /** Options of the new browser context (viewport 1360×1000 unless given). */
  context?: BrowserContextOptions;
}

export class ConsoleBrowser {
  /** Script errors and CSP violations seen by any page since the last `expectNoProblems()`/`takeProblems()`. */
  private problems: string[] = [];
  private contexts: BrowserContext[] = [];

  private constructor(
    readonly browser: Browser,
    readonly baseUrl: string,
  ) {}

  static async launch(baseUrl: string, args: readonly string[] = QUIET_ARGS): Promise<ConsoleBrowser> {
    return new ConsoleBrowser(await launchChromium({ args: [...args] }), baseUrl);
  }

  /** A new browser context (its own sessionStorage), closed by `expectNoProblems()`/`takeProblems()`. */
  async newContext(options: BrowserContextOptions = {}): Promise<BrowserContext> {
    const context = await this.browser.newContext({ viewport: VIEWPORT, ...options });
    this.contexts.push(context);
    return context;
  }

  /** A new tab whose script errors and console errors (a CSP violation is one) are recorded. */
  async newPage(context?: BrowserContext): Promise<Page> {
    const page = await (context ?? (await this.newContext())).newPage();
    page.on('pageerror', (e) => this.problems.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) this.problems.push(m.text());
    });
    return page;
  }

  /** Pastes the token into the sign-in form of a page showing it, and waits for the signed-in header. */
  async signIn(page: Page, token: string, role?: string): Promise<void> {
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const shown = page.getByTestId('role');
    await (role === undefined ? shown : shown.filter({ hasText: role })).waitFor();
  }

  /** A fresh tab in a fresh context, opened at `path` and signed in with the token. */
  async signedIn(token: string, options: SignInOptions = {}): Promise<Page> {
    const page = await this.newPage(await this.newContext(options.context));
    await page.goto(`${this.baseUrl}${options.path ?? '/'}`);
    await this.signIn(page, token, options.role);
    return page;
  }

  /** Closes every context opened since the last call and returns (and forgets) the problems seen. */
  async takeProblems(): Promise<string[]> {
    const contexts = this.contexts;
    this.contexts = [];
    for (const c of contexts) await c.close();
    const seen = this.problems;
    this.problems = [];
    return seen;
  }

  /** `takeProblems()`, asserting there were none: for an `afterEach`. */
  async expectNoProblems(): Promise<void> {
    expect(await this.takeProblems(), 'no script errors or CSP violations in the page').toEqual([]);
  }

  async close(): Promise<void> {
    await this.browser.close();
  }
}

/** One axe-core rule violated on the page: the rule, its impact, what it asks, and the elements (CSS selectors). */
export interface AxeViolation {
  id: string;
  impact: string;
  help: string;
  targets: string[];
}

let axeSource: string | undefined;

/**
 * Runs axe-core (the devDependency's own build, injected through the DevTools protocol, so the page's CSP is neither
 * loosened nor violated) over the whole document as it is now, and returns its serious and critical violations:
 * a test asserts `[]`. Rules the page cannot fail (e.g. colour contrast of hidden elements) are axe's to judge.
 */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  axeSource ??= readFileSync(fileURLToPath(import.meta.resolve('axe-core/axe.min.js')), 'utf8');
  const loaded = await page.evaluate(() => typeof (globalThis as { axe?: unknown }).axe === 'object');
  if (!loaded) await page.evaluate(`${axeSource};void 0`);
  const violations = await page.evaluate(async () => {
    interface AxeResult {
      violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[];
    }
    const axe = (globalThis as unknown as { axe: { run(ctx: Document, o: object): Promise<AxeResult> } }).axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact ?? '',
      help: v.help,
      targets: v.nodes.map((n) => n.target.map(String).join(' ')),
    }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}
