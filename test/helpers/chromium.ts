// Which Chromium the browser tests (and anything that takes screenshots) launch, so `npm test` needs no system
// browser: CHROMIUM_PATH when set, else a `chromium`/`chromium-browser` on PATH, else the browser shipped inside the
// devDependency @sparticuz/chromium (a headless shell, brotli-packed; unpacked once into node_modules/.cache).
// Always launched with our own flags: the package's serverless `args` (--single-process, --no-zygote…) crash here.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type LaunchOptions } from 'playwright-core';

/** Headless needs no sandbox (we run as root in CI) and no GPU; playwright-core adds the headless flags itself. */
export const CHROMIUM_ARGS: readonly string[] = ['--no-sandbox', '--disable-gpu'];

export interface ResolvedChromium {
  executablePath: string;
  source: 'CHROMIUM_PATH' | 'PATH' | '@sparticuz/chromium';
  /** Extra environment for the browser process (libraries/fonts unpacked from the package), if any. */
  env: Record<string, string>;
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(names: readonly string[], path: string | undefined): string | undefined {
  const dirs = (path ?? '').split(delimiter).filter((d) => d !== '');
  for (const name of names) {
    for (const dir of dirs) if (executable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/**
 * Unpacks the package's browser into `node_modules/.cache/sparticuz-chromium-<version>/` once. The package unpacks
 * into `os.tmpdir()`, so a child process does it with TMPDIR pointing at a private staging directory, which is then
 * renamed into place: atomic, so concurrent test processes never see half a binary, and never a stale /tmp/chromium
 * of another version. AWS_EXECUTION_ENV makes it unpack its Amazon Linux libraries (NSS, NSPR, expat) too, used
 * only where the system lacks them.
 */
function unpackSparticuz(): string {
  const require = createRequire(import.meta.url);
  const pkgDir = dirname(dirname(dirname(require.resolve('@sparticuz/chromium')))); // build/cjs/index.cjs → package
  const { version } = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string };
  const cacheRoot = join(pkgDir, '..', '..', '.cache');
  const target = join(cacheRoot, `sparticuz-chromium-${version}`);
  if (executable(join(target, 'chromium'))) return target;

  mkdirSync(cacheRoot, { recursive: true });
  const staging = mkdtempSync(join(cacheRoot, `sparticuz-chromium-${version}.staging-`));
  try {
    const entry = pathToFileURL(join(pkgDir, 'build', 'esm', 'index.js')).href;
    const script = `const { default: c } = await import(${JSON.stringify(entry)}); process.stdout.write(await c.executablePath());`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, TMPDIR: staging, AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs20.x' },
      encoding: 'utf8',
    });
    if (r.status !== 0 || r.stdout !== join(staging, 'chromium')) {
      throw new Error(`@sparticuz/chromium could not unpack its browser: ${(r.stderr || r.stdout).trim()}`);
    }
    // Fonts: the package's fonts.conf names /tmp paths; ours adds the system's configuration, then its fonts.
    writeFileSync(
      join(staging, 'fonts.conf'),
      [
        '<?xml version="1.0"?>',
        '<!DOCTYPE fontconfig SYSTEM "fonts.dtd">',
        '<fontconfig>',
        '  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>',
        `  <dir>${join(target, 'fonts', 'fonts')}</dir>`,
        `  <cachedir>${join(target, 'fonts-cache')}</cachedir>`,
        '</fontconfig>',
        '',
      ].join('\n'),
    );
    try {
      renameSync(staging, target);
    } catch (err) {
      // Another process got there first: use theirs.
      if (!executable(join(target, 'chromium'))) throw err;
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return target;
}

/** Shared libraries the binary needs and the dynamic linker cannot find (`ldd`); [] when ldd is unavailable. */
function missingLibraries(binary: string): string[] {
  try {
    const out = execFileSync('ldd', [binary], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return out
      .split('\n')
      .filter((l) => l.includes('not found'))
      .map((l) => l.trim().split(/\s/)[0]!);
  } catch {
    return [];
  }
}

/** Finds the browser to launch (see the file comment for the order). Unpacks the packaged one on first use. */
export function resolveChromium(env: Record<string, string | undefined> = process.env): ResolvedChromium {
  const given = env.CHROMIUM_PATH;
  if (given !== undefined && given !== '') {
    if (!executable(given)) throw new Error(`CHROMIUM_PATH=${given} is not an executable file`);
    return { executablePath: given, source: 'CHROMIUM_PATH', env: {} };
  }
  const system = onPath(['chromium', 'chromium-browser'], env.PATH);
  if (system) return { executablePath: system, source: 'PATH', env: {} };

  const dir = unpackSparticuz();
  const executablePath = join(dir, 'chromium');
  const extra: Record<string, string> = { FONTCONFIG_FILE: join(dir, 'fonts.conf') };
  const missing = missingLibraries(executablePath);
  if (missing.length > 0) {
    const bundled = join(dir, 'al2023', 'lib');
    const stillMissing = missing.filter((lib) => !existsSync(join(bundled, lib)));
    if (stillMissing.length > 0) {
      throw new Error(`Chromium needs shared libraries this system lacks: ${stillMissing.join(', ')}`);
    }
    extra.LD_LIBRARY_PATH = [bundled, env.LD_LIBRARY_PATH].filter(Boolean).join(delimiter);
  }
  return { executablePath, source: '@sparticuz/chromium', env: extra };
}

/** The browser's version line, e.g. "Chromium 140.0.7339.0". */
export function chromiumVersion(resolved: ResolvedChromium): string {
  return execFileSync(resolved.executablePath, ['--version'], {
    encoding: 'utf8',
    env: { ...process.env, ...resolved.env },
  }).trim();
}

/** Launches the resolved Chromium headless through playwright-core, with our flags only. */
export async function launchChromium(options: Omit<LaunchOptions, 'executablePath' | 'env'> = {}): Promise<Browser> {
  const resolved = resolveChromium();
  return chromium.launch({
    ...options,
    executablePath: resolved.executablePath,
    env: { ...process.env, ...resolved.env },
    args: [...CHROMIUM_ARGS, ...(options.args ?? [])],
  });
}
