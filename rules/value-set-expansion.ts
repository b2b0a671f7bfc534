// A clinic's full expansion of one value set, as a FHIR R4 `ValueSet` resource (e.g. a VSAC export): which fields are
// read, the limits, and the codes it yields. Engine code: any kind may declare value sets (KindDeclaration.valueSets);
// what a kind does with the codes (merge into its built-in set) is the kind's.
import { z } from 'zod';
import { AppError, jsonPath } from './errors.ts';

/** At most this many codes per expansion (the largest VSAC value sets hold a few tens of thousands). */
export const MAX_EXPANSION_CODES = 50_000;
/** `expansion.contains[].contains[]…` nests at most this deep (VSAC exports are flat; FHIR allows hierarchies). */
export const MAX_CONTAINS_DEPTH = 8;

/** One code of a loaded expansion. */
export interface ExpansionCode {
  system: string;
  code: string;
  display?: string;
}

/** What an expansion yields: its codes (deduplicated, in document order) and where they come from (`url|version`). */
export interface ParsedExpansion {
  source: string;
  codes: ExpansionCode[];
}

interface Contains {
  system?: string | undefined;
  code?: string | undefined;
  display?: string | undefined;
  abstract?: boolean | undefined;
  contains?: Contains[] | undefined;
}
const ContainsSchema: z.ZodType<Contains> = z.lazy(() =>
  z.looseObject({
    system: z.string().min(1).optional(),
    code: z.string().min(1).optional(),
    display: z.string().optional(),
    abstract: z.boolean().optional(),
    contains: z.array(ContainsSchema).optional(),
  }),
);

/** The fields of a FHIR R4 ValueSet this reads; every other field is allowed and ignored. */
const FhirValueSetSchema = z.looseObject({
  resourceType: z.literal('ValueSet'),
  id: z.string().optional(),
  url: z.string().optional(),
  version: z.string().optional(),
  name: z.string().optional(),
  expansion: z.looseObject({ contains: z.array(ContainsSchema).optional() }).optional(),
  compose: z
    .looseObject({
      include: z.array(
        z.looseObject({
          system: z.string().min(1).optional(),
          version: z.string().optional(),
          concept: z.array(z.looseObject({ code: z.string().min(1), display: z.string().optional() })).optional(),
          filter: z.array(z.unknown()).optional(),
          valueSet: z.array(z.string()).optional(),
        }),
      ),
    })
    .optional(),
});

function invalid(path: PropertyKey[], message: string): never {
  const p = jsonPath(path);
  throw new AppError('INVALID_INPUT', `${p}: ${message}`, { issues: [{ path: p, message }] });
}

/**
 * Reads the codes of a FHIR R4 `ValueSet` (e.g. a VSAC export): `expansion.contains[]` (`system` + `code`, nested
 * `contains` too, `abstract` entries skipped) and `compose.include[].concept[]` (`code`, with the include's `system`).
 * `display` is kept. Without an expansion, an include made only of `filter` or `valueSet` references cannot be
 * expanded here and is refused (a clinic loads the expansion, not the definition); with one, such includes are what
 * the expansion resolved and are ignored. A document with no code at all is refused. The source is
 * `url` (else `ValueSet/{id}`, else `name`) with `|version`. Duplicate `system|code` pairs are kept once.
 *
 * @throws AppError `INVALID_INPUT` with the JSON path of the problem (not a ValueSet, a code without a system,
 *   nesting deeper than MAX_CONTAINS_DEPTH, more than MAX_EXPANSION_CODES codes, nothing to load).
 */
export function parseValueSetExpansion(resource: unknown): ParsedExpansion {
  const parsed = FhirValueSetSchema.safeParse(resource);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    invalid(issue?.path ?? [], issue?.message ?? 'not a FHIR ValueSet');
  }
  const vs = parsed.data;
  const name = vs.url ?? (vs.id ? `ValueSet/${vs.id}` : (vs.name ?? 'ValueSet'));
  const source = `${name}${vs.version ? `|${vs.version}` : ''}`;
  const codes: ExpansionCode[] = [];
  const seen = new Set<string>();
  const add = (system: string, code: string, display: string | undefined, path: PropertyKey[]) => {
    const key = `${system}|${code}`;
    if (seen.has(key)) return;
    if (codes.length >= MAX_EXPANSION_CODES) invalid(path, `more than ${MAX_EXPANSION_CODES} codes`);
    seen.add(key);
    codes.push({ system, code, ...(display ? { display } : {}) });
  };

  const walk = (list: Contains[], path: PropertyKey[], depth: number): void => {
    if (depth > MAX_CONTAINS_DEPTH) invalid(path, `contains nested deeper than ${MAX_CONTAINS_DEPTH} levels`);
    list.forEach((c, i) => {
      if (c.code !== undefined && !c.abstract) {
        if (!c.system) invalid([...path, i, 'system'], 'a code needs its system');
        add(c.system, c.code, c.display, [...path, i]);
      }
      if (c.contains) walk(c.contains, [...path, i, 'contains'], depth + 1);
    });
  };
  walk(vs.expansion?.contains ?? [], ['expansion', 'contains'], 1);
  const expanded = codes.length > 0;
  vs.compose?.include.forEach((inc, i) => {
    if (!inc.concept?.length) {
      // With an expansion, the definition's other includes are what the expansion resolved (VSAC sends both).
      if (!expanded && (inc.filter?.length || inc.valueSet?.length))
        invalid(['compose', 'include', i], 'a filter or valueSet include cannot be expanded here: load the expansion');
      return;
    }
    if (!inc.system) invalid(['compose', 'include', i, 'system'], 'an include with concepts needs its system');
    inc.concept.forEach((c, j) => add(inc.system!, c.code, c.display, ['compose', 'include', i, 'concept', j]));
  });
  if (codes.length === 0) invalid([], 'the ValueSet holds no codes (expansion.contains or compose.include.concept)');
  return { source, codes };
}
