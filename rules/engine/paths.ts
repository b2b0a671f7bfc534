// Fact paths at evaluation time (`$.a.b[0]`, the subset protocol schemas allow), for every kind's evaluator.

const PATH_STEP = /\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]/g;
const parsedPaths = new Map<string, (string | number)[]>();

/**
 * The steps of a `$.a.b[0]` path (the subset the schema allows): field names and array indexes. Parsed once per
 * distinct path (protocols have a few dozen), so resolving a path per case does no regex work.
 */
export function pathSteps(path: string): (string | number)[] {
  let steps = parsedPaths.get(path);
  if (!steps) {
    steps = [...path.slice(1).matchAll(PATH_STEP)].map((m) => m[1] ?? Number(m[2]));
    if (parsedPaths.size > 10_000) parsedPaths.clear();
    parsedPaths.set(path, steps);
  }
  return steps;
}

/**
 * json-rules-engine's `path` resolver, restricted: admin-authored paths are never handed to a JSONPath evaluator. The
 * schema admits only `$`, `.field` and `[index]` steps; this walks own keys of objects and arrays, and returns a
 * non-object fact as is (as the default resolver does). `compileProtocol` reads paths the same way.
 */
export function restrictedPathResolver(value: unknown, path: string): unknown {
  if (value === null || typeof value !== 'object') return value;
  let current: unknown = value;
  for (const step of pathSteps(path)) {
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, step)) return undefined;
    current = (current as Record<string | number, unknown>)[step];
  }
  return current;
}
