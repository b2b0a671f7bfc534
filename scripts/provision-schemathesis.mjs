#!/usr/bin/env node
// Provisions Schemathesis (the API contract fuzzer the contract test runs) into .venv-schemathesis/ (git-ignored):
// `python3 -m venv`, then a pinned `schemathesis` from PyPI. Idempotent and cached: a venv that already runs the
// pinned version is kept. Only test/api/contract.test.ts needs it, so it is provisioned there, not on every install.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SCHEMATHESIS_VERSION = '4.32.5';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const venv = join(root, '.venv-schemathesis');
const cli = join(venv, 'bin', 'schemathesis');

function installedVersion() {
  if (!existsSync(cli)) return null;
  const r = spawnSync(cli, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? (/version\s+(\S+)/.exec(r.stdout)?.[1] ?? null) : null;
}

if (installedVersion() === SCHEMATHESIS_VERSION) {
  console.log(`[provision] schemathesis ${SCHEMATHESIS_VERSION} already in .venv-schemathesis/`);
  process.exit(0);
}
const python = ['python3', 'python'].find((p) => spawnSync(p, ['-c', 'import venv, ensurepip']).status === 0);
if (!python) {
  console.error('The contract test needs Python 3 with venv and pip (e.g. apt-get install python3-venv).');
  process.exit(1);
}
console.log(`[provision] installing schemathesis==${SCHEMATHESIS_VERSION} from PyPI into .venv-schemathesis/ …`);
rmSync(venv, { recursive: true, force: true });
execFileSync(python, ['-m', 'venv', venv], { stdio: 'inherit' });
execFileSync(
  join(venv, 'bin', 'python'),
  ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', `schemathesis==${SCHEMATHESIS_VERSION}`],
  { stdio: 'inherit' },
);
const v = installedVersion();
if (v !== SCHEMATHESIS_VERSION) {
  console.error(`schemathesis did not install (found ${v ?? 'nothing'})`);
  process.exit(1);
}
console.log(`[provision] schemathesis ${v} ready`);
