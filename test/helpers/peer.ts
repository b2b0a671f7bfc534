// Helpers of the peer suite (test/peer/, `npm run test:peer`): loading fixtures into HAPI FHIR as any client would,
// and asking HAPI to validate what we wrote. Raw fetch on purpose: these talk to HAPI directly, not through the
// connector under test.
import type { Bundle, OperationOutcome, Resource } from '@medplum/fhirtypes';

const FHIR_JSON = 'application/fhir+json';

/**
 * Gives every resource of a scenario its own id space (`<prefix>-<id>`), references included, so many golden cases can
 * live in one EHR. Contained references (`#x`) and absolute URLs are left alone.
 */
export function withIdPrefix(resources: readonly Resource[], prefix: string): Resource[] {
  return resources.map((resource) => {
    const copy = JSON.parse(
      JSON.stringify(resource, (key, value: unknown) =>
        key === 'reference' && typeof value === 'string' && /^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]+$/.test(value)
          ? value.replace('/', `/${prefix}-`)
          : value,
      ),
    ) as Resource;
    if (copy.id) copy.id = `${prefix}-${copy.id}`;
    return copy;
  });
}

/**
 * The same resources as an EHR that enforces referential integrity (HAPI refuses a dangling reference, HAPI-1094)
 * would hold them: a literal reference to a resource not among `resources` keeps only its display (e.g. a pharmacy
 * the EHR does not know). Returns the references so rewritten.
 */
export function withoutDanglingReferences(resources: readonly Resource[]): {
  resources: Resource[];
  dropped: string[];
} {
  const held = new Set(resources.map((r) => `${r.resourceType}/${r.id}`));
  const dropped: string[] = [];
  const out = resources.map(
    (r) =>
      JSON.parse(
        JSON.stringify(r, (_key, value: unknown) => {
          if (typeof value !== 'object' || value === null || !('reference' in value)) return value;
          const { reference, ...rest } = value as { reference: unknown; display?: string };
          if (typeof reference !== 'string' || reference.startsWith('#') || held.has(reference)) return value;
          dropped.push(reference);
          return { ...rest, display: rest.display ?? `${reference.split('/')[0]} not on file` };
        }),
      ) as Resource,
  );
  return { resources: out, dropped };
}

/**
 * Stores `resources` in HAPI with their own ids, in one `transaction` of update-as-create (PUT) entries: HAPI checks
 * references at the end of a transaction, so resources that point at each other load in any order.
 * @throws Error with HAPI's OperationOutcome when the transaction is refused.
 */
export async function loadIntoHapi(baseUrl: string, resources: readonly Resource[]): Promise<void> {
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: resources.map((resource) => ({
      fullUrl: `${baseUrl}/${resource.resourceType}/${resource.id}`,
      resource,
      request: { method: 'PUT', url: `${resource.resourceType}/${resource.id}` },
    })),
  };
  const res = await fetch(baseUrl, {
    method: 'POST',
    headers: { 'content-type': FHIR_JSON, accept: FHIR_JSON },
    body: JSON.stringify(bundle),
  });
  if (!res.ok) throw new Error(`HAPI refused the transaction (${res.status}): ${await res.text()}`);
}

/** HAPI's `$validate` of `resource` against the base R4 definitions: the issues of severity error or fatal. */
export async function hapiValidationErrors(baseUrl: string, resource: Resource): Promise<string[]> {
  const res = await fetch(`${baseUrl}/${resource.resourceType}/$validate`, {
    method: 'POST',
    headers: { 'content-type': FHIR_JSON, accept: FHIR_JSON },
    body: JSON.stringify({ resourceType: 'Parameters', parameter: [{ name: 'resource', resource }] }),
  });
  const outcome = (await res.json()) as OperationOutcome;
  if (outcome.resourceType !== 'OperationOutcome')
    throw new Error(`$validate answered ${res.status} without an outcome`);
  return (outcome.issue ?? [])
    .filter((i) => i.severity === 'error' || i.severity === 'fatal')
    .map((i) => `${i.expression?.join(',') ?? i.location?.join(',') ?? ''}: ${i.diagnostics ?? i.code}`);
}

/** A raw GET of HAPI, as a client that sends no Cache-Control would make it. */
export async function hapiGet(baseUrl: string, path: string, headers: Record<string, string> = {}): Promise<unknown> {
  const res = await fetch(`${baseUrl}/${path}`, { headers: { accept: FHIR_JSON, ...headers } });
  return res.json();
}
