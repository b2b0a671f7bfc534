// Onboarding's "can we talk to this EHR?": the CapabilityStatement through the FHIR connector, then SMART discovery
// and one token when the clinic has a key. Every failure becomes a line in `problems`, never a thrown error.
import type { JWK } from 'jose';
import { z } from 'zod';
import { AppError } from '../../rules/index.ts';
import { assertDiscoveredTokenUrl, createAccessTokenSource } from './auth.ts';
import { createFhirConnector } from './connector.ts';
import { assertEgressUrl, createEgressFetch, type EgressPolicy } from './egress.ts';

export interface ConnectionCheckOptions {
  baseUrl: string;
  /** Present when the clinic has a SMART Backend Services key. */
  auth?: { clientId: string; privateKeyJwk: JWK; tokenUrl?: string };
  timeoutMs: number;
  requestId?: () => string | undefined;
  /** Which addresses the check may reach: the URLs come from an admin, so they are untrusted. */
  egress: EgressPolicy;
}

/** What the EHR supports, as far as ehr-autopilot cares; `problems` lists what failed, in plain words. */
export interface ConnectionReport {
  ok: boolean;
  fhirVersion: string | null;
  batch: boolean;
  transaction: boolean;
  conditionalCreateTypes: string[];
  smart: { configured: boolean; tokenEndpoint: string | null; tokenOk: boolean };
  problems: string[];
}

const SmartConfigurationSchema = z.looseObject({ token_endpoint: z.url() });

function describe(err: unknown): string {
  // AppError messages are PHI-free by contract; anything else is summarised by its class only.
  return err instanceof AppError ? err.message : `unexpected ${err instanceof Error ? err.name : 'failure'}`;
}

async function discoverTokenEndpoint(opts: ConnectionCheckOptions): Promise<string> {
  const url = `${opts.baseUrl.replace(/\/+$/, '')}/.well-known/smart-configuration`;
  let res: Response;
  try {
    res = await createEgressFetch(opts.egress)(url, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
  } catch (err) {
    if (err instanceof AppError) throw err; // refused address or redirect
    if (err instanceof Error && err.cause instanceof AppError) throw err.cause;
    throw new AppError('EHR_UNAVAILABLE', 'SMART discovery: the EHR did not answer');
  }
  if (!res.ok) throw new AppError('EHR_REJECTED', `SMART discovery: smart-configuration answered ${res.status}`);
  const parsed = SmartConfigurationSchema.safeParse(await res.json().catch(() => undefined));
  if (!parsed.success) throw new AppError('EHR_REJECTED', 'SMART discovery: smart-configuration has no token_endpoint');
  return assertDiscoveredTokenUrl(opts.baseUrl, parsed.data.token_endpoint);
}

/**
 * Checks an EHR connection the way the worker will use it: reads the CapabilityStatement (FHIR version, batch,
 * transaction, conditional create per type), and with a key, discovers the token endpoint (unless configured) and
 * requests one access token. Why: onboarding should show what is wrong before the first refill request does.
 * Never throws for EHR faults: they are reported in `problems`.
 */
export async function checkFhirConnection(opts: ConnectionCheckOptions): Promise<ConnectionReport> {
  const report: ConnectionReport = {
    ok: false,
    fhirVersion: null,
    batch: false,
    transaction: false,
    conditionalCreateTypes: [],
    smart: { configured: opts.auth !== undefined, tokenEndpoint: null, tokenOk: false },
    problems: [],
  };
  // Nothing is sent to a URL the policy refuses (loopback, metadata, http in production…).
  try {
    assertEgressUrl(opts.baseUrl, opts.egress, 'FHIR base URL');
    if (opts.auth?.tokenUrl) assertEgressUrl(opts.auth.tokenUrl, opts.egress, 'Token URL');
  } catch (err) {
    report.problems.push(describe(err));
    return report;
  }
  // The CapabilityStatement is public in SMART: read it without a token so a key problem does not hide it.
  const connector = createFhirConnector({
    baseUrl: opts.baseUrl,
    timeoutMs: opts.timeoutMs,
    egress: opts.egress,
    ...(opts.requestId ? { requestId: opts.requestId } : {}),
  });
  try {
    const caps = await connector.capabilities();
    report.fhirVersion = caps.fhirVersion ?? null;
    report.batch = caps.batch;
    report.transaction = caps.transaction;
    report.conditionalCreateTypes = caps.conditionalCreateTypes;
    if (!caps.fhirVersion?.startsWith('4.0')) {
      report.problems.push(`FHIR version ${caps.fhirVersion ?? 'unknown'}: ehr-autopilot speaks R4 (4.0.x)`);
    }
    if (!caps.batch) report.problems.push('No batch interaction: patient context will take several round trips');
  } catch (err) {
    report.problems.push(`CapabilityStatement: ${describe(err)}`);
  }
  if (opts.auth) {
    try {
      const tokenUrl = opts.auth.tokenUrl ?? (await discoverTokenEndpoint(opts));
      report.smart.tokenEndpoint = tokenUrl;
      const tokens = createAccessTokenSource({
        ...opts.auth,
        tokenUrl,
        baseUrl: opts.baseUrl,
        timeoutMs: opts.timeoutMs,
        egress: opts.egress,
        ...(opts.requestId ? { requestId: opts.requestId } : {}),
      });
      await tokens.token();
      report.smart.tokenOk = true;
    } catch (err) {
      report.problems.push(describe(err));
    }
  } else {
    report.problems.push('No SMART client key: requests will carry no access token');
  }
  report.ok = report.fhirVersion !== null && (!opts.auth || report.smart.tokenOk);
  return report;
}
