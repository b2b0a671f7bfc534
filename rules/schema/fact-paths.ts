import type { z } from 'zod';

/** What a fact path points at, as far as the schema can tell. */
export interface FactPathTarget {
  /** The schema at the path, with `nullable`/`optional` kept (use it to check a rule's value). */
  schema: z.ZodType;
  kind: 'date' | 'number' | 'array' | 'object' | 'scalar';
  /** For arrays: the element schema. */
  element?: z.ZodType;
}

/** Path syntax accepted in rules: `$`, `$.a.b`, `$.list[0]` (a subset of JSONPath with one meaning). */
export const FACT_PATH_PATTERN = /^\$((\.[A-Za-z_][A-Za-z0-9_]*)|(\[\d+\]))*$/;

type Def = {
  type: string;
  format?: string;
  innerType?: z.ZodType;
  element?: z.ZodType;
  shape?: Record<string, z.ZodType>;
};
const defOf = (s: z.ZodType): Def => (s as unknown as { def: Def }).def;

function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  for (
    let d = defOf(s);
    (d.type === 'nullable' || d.type === 'optional' || d.type === 'default') && d.innerType;
    d = defOf(s)
  )
    s = d.innerType;
  return s;
}

/** Resolves a rule's `fact` + `path` against one kind's facts schema. */
export type FactPathResolver = (fact: string, path: string | undefined) => FactPathTarget | { error: string };

/**
 * A resolver of `fact` + `path` against a kind's facts schema (a zod object whose keys are the facts), so a rule
 * naming a fact or a field that does not exist is rejected when the protocol is saved rather than silently evaluating
 * to "missing" forever.
 */
export function createFactPathResolver(factsSchema: z.ZodObject): FactPathResolver {
  const shape = factsSchema.shape as Record<string, z.ZodType>;
  return (fact, path) => resolveIn(shape, fact, path);
}

function resolveIn(
  shape: Record<string, z.ZodType>,
  fact: string,
  path: string | undefined,
): FactPathTarget | { error: string } {
  // Own keys only: `{{constructor}}` or `{{toString}}` must not reach Object.prototype (it used to throw: a 500).
  let schema = Object.hasOwn(shape, fact) ? shape[fact] : undefined;
  if (!schema) return { error: `unknown fact "${fact}"` };
  const p = path ?? '$';
  if (!FACT_PATH_PATTERN.test(p)) return { error: `path "${p}" is not of the form $.field.field or $.list[0]` };
  let walked = '$';
  for (const m of p.slice(1).matchAll(/\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]/g)) {
    const inner = unwrap(schema);
    const d = defOf(inner);
    if (m[1] !== undefined) {
      // Own fields only: `constructor`, `__proto__` and the like are not fields of a fact.
      const next = d.type === 'object' && d.shape && Object.hasOwn(d.shape, m[1]) ? d.shape[m[1]] : undefined;
      if (!next) return { error: `fact "${fact}" has no field "${m[1]}" at ${walked}` };
      schema = next;
      walked += `.${m[1]}`;
    } else {
      if (d.type !== 'array' || !d.element) return { error: `fact "${fact}" is not a list at ${walked}` };
      schema = d.element;
      walked += `[${m[2]}]`;
    }
  }
  const leaf = defOf(unwrap(schema));
  if (leaf.type === 'array') return { schema, kind: 'array', ...(leaf.element ? { element: leaf.element } : {}) };
  if (leaf.type === 'object') return { schema, kind: 'object' };
  if (leaf.type === 'number') return { schema, kind: 'number' };
  if (leaf.type === 'string' && leaf.format === 'date') return { schema, kind: 'date' };
  return { schema, kind: 'scalar' };
}

/** Splits a template placeholder (`visits.lastPcpRov.date`) into a fact and a path. */
export function placeholderToFactPath(ref: string): { fact: string; path: string } {
  const [fact = '', ...rest] = ref.split('.');
  return { fact, path: rest.length ? `$.${rest.join('.')}` : '$' };
}

/** `{{ fact.path | fallback }}` placeholders in explanation templates. */
export const PLACEHOLDER_PATTERN = /\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(?:\|([^}]*))?\}\}/g;
