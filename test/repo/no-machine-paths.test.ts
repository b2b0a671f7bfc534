// The repository is self-contained: no file names a path of a development machine or a document outside the
// repository (the reference documents are in docs/). Scans every file git tracks or would track, text only.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

// Written in pieces so that this file does not match itself.
const FORBIDDEN: { what: string; pattern: RegExp }[] = [
  { what: 'an absolute path of a development machine', pattern: new RegExp(['', 'work', ''].join('/')) },
  { what: 'a document outside the repository', pattern: new RegExp(['\\.\\.', 'shared', ''].join('/')) },
  {
    what: 'the team folder outside the repository (use docs/)',
    pattern: new RegExp(`(^|[^\\w.-])${'shared'}/(protocols|domain|ARCHITECTURE\\.md|STYLE\\.md)`),
  },
];

/** Tracked and untracked-but-not-ignored files: what a commit of this checkout would hold. */
function repoFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return out.split('\0').filter((f) => f !== '');
}

test('no file names a path outside the repository', () => {
  const files = repoFiles();
  expect(files.length).toBeGreaterThan(100);
  const hits: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(join(ROOT, file), 'utf8');
    } catch {
      continue; // deleted in the work tree
    }
    if (text.includes('\0')) continue; // binary
    text.split('\n').forEach((line, i) => {
      for (const { what, pattern } of FORBIDDEN) {
        if (pattern.test(line)) hits.push(`${file}:${i + 1}: ${what}`);
      }
    });
  }
  expect(hits).toEqual([]);
});
