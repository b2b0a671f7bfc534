// Onboarding's "can we talk to this EHR?", in the four steps the worker depends on: the CapabilityStatement, SMART
// discovery, one access token, and one test read that returns no patient data. Each step says pass, fail or skipped,
// what happened and, for a failure, what to do about it in plain words. Every failure is a step (and a line in
// `problems`), never a thrown error.
import type { JWK } from 'jose';
import { z } from 'zod';
import { AppError } from '../../rules/index.ts';
import { assertDiscoveredTokenUrl, createAccessTokenSource } from './auth.ts';
import { createFhirConnector, type BatchMode } from './connector.ts';
import { assertEgressUrl, createEgressFetch, type EgressPolicy } from './egress.ts';

export interface ConnectionCheckOptions {
  baseUrl: string;
  /** Present when the clinic has a SMART Backend Services key. */
  auth?: { clientId: string; privateKeyJwk: JWK; tokenUrl?: string };
  /** The clinic has a key that cannot be used (e.g. it cannot be decrypted): the token step fails with this. */
  keyError?: string;
  timeoutMs: number;
  requestId?: () => string | undefined;
  /** Which addresses the check may reach: the URLs come from an admin, so they are untrusted. */
  egress: EgressPolicy;
  /** The clinic's batch setting (default `auto`). The check probes the EHR whatever it is, and says what follows. */
  batch?: BatchMode;
}

/** The steps, in the order they run. */
export const CONNECTION_STEPS = ['capability_statement', 'smart_discovery', 'token', 'test_read'] as const;
export type ConnectionStepId = (typeof CONNECTION_STEPS)[number];

/** One step of the check. `detail` and `fix` hold no PHI: statuses, versions and what the admin entered. */
export interface ConnectionStep {
  id: ConnectionStepId;
  title: string;
  status: 'pass' | 'fail' | 'skipped';
  /** What happened, in plain words. */
  detail: string;
  /** What to do about a failure, in plain words; null when the step passed or was skipped. */
  fix: string | null;
}

/** What the EHR supports, as far as ehr-autopilot cares; `problems` lists what failed, in plain words. */
export interface ConnectionReport {
  ok: boolean;
  fhirVersion: string | null;
  /** Whether the worker will read this EHR in batch Bundles: the clinic's setting applied to `batchSupport`. */
  batch: boolean;
  /** The clinic's batch setting the check ran with. */
  batchSetting: BatchMode;
  /**
   * Whether the EHR batches, found by the check whatever the setting: its CapabilityStatement advertises `batch`,
   * or it answered a probe (an empty batch Bundle) without advertising it (HAPI FHIR does), or neither.
   */
  batchSupport: 'advertised' | 'probed' | 'none';
  transaction: boolean;
  conditionalCreateTypes: string[];
  smart: { configured: boolean; tokenEndpoint: string | null; tokenOk: boolean };
  steps: ConnectionStep[];
  problems: string[];
}

/**
 * The test read: a Patient search that asks for the count only (`_summary=count`), so the answer is a Bundle with a
 * total and no resources. It proves the token may search what the worker reads without reading any patient's data
 * (so it is no access to patient data to audit).
 */
export const TEST_READ = { resourceType: 'Patient', params: { _summary: 'count' } } as const;
const TEST_READ_TEXT = `${TEST_READ.resourceType}?_summary=count`;

const TITLES: Record<ConnectionStepId, string> = {
  capability_statement: 'CapabilityStatement',
  smart_discovery: 'SMART discovery',
  token: 'Access token',
  test_read: 'Test read',
};

const SmartConfigurationSchema = z.looseObject({ token_endpoint: z.url() });

function describe(err: unknown): string {
  // AppError messages are PHI-free by contract; anything else is summarised by its class only.
  return err instanceof AppError ? err.message : `unexpected ${err instanceof Error ? err.name : 'failure'}`;
}

/** The parts of a failure the fixes depend on. */
function facts(err: unknown): { status: number | null; reason: string | null; oauthError: string | null } {
  const ctx = err instanceof AppError ? err.context : {};
  return {
    status: typeof ctx.status === 'number' ? ctx.status : null,
    reason: typeof ctx.reason === 'string' ? ctx.reason : null,
    oauthError: typeof ctx.oauthError === 'string' ? ctx.oauthError : null,
  };
}

const UNREACHABLE =
  'The EHR did not answer in time. Check that the address is right and that the EHR accepts connections from this ' +
  'server (a firewall or an allow-list of IP addresses), then check again. If the EHR is down, wait and check again.';
const REFUSED_ADDRESS =
  'This server may not connect to that address. Use the EHR’s public https address; an EHR inside a private ' +
  'network needs EHR_ALLOW_PRIVATE_NETWORKS=true on the server (an operator’s setting).';

/** What to do when the CapabilityStatement (GET [base]/metadata) fails. */
function capabilityFix(err: unknown): string {
  const { status, reason } = facts(err);
  if (reason === 'egress-refused') return REFUSED_ADDRESS;
  if (reason === 'redirect') {
    return 'The address redirects elsewhere, and redirects are not followed: enter the address it redirects to (often https instead of http, or a trailing path).';
  }
  if (status === 404 || status === 410) {
    return 'Nothing answers at [base URL]/metadata: the FHIR base URL is probably wrong. Copy it from the EHR’s FHIR or developer settings; it is the address just before /metadata and often ends in /R4 or /fhir/R4.';
  }
  if (status === 401 || status === 403) {
    return 'The EHR refuses to show its CapabilityStatement without signing in, which SMART servers must not do. Check that this is the FHIR base URL (not a portal or an admin page), or ask the EHR vendor to make /metadata public.';
  }
  if (reason === 'timeout' || reason === 'network' || (status !== null && (status >= 500 || status === 429))) {
    return UNREACHABLE;
  }
  return 'The address answered, but not as a FHIR R4 server. Check the FHIR base URL: it must be the FHIR R4 endpoint, not the EHR’s web site or another FHIR version.';
}

/** What to do when SMART discovery (GET [base]/.well-known/smart-configuration) fails. */
function discoveryFix(err: unknown): string {
  const { status, reason } = facts(err);
  if (reason === 'egress-refused') return REFUSED_ADDRESS;
  if (reason === 'token-origin') {
    return 'The EHR names a token endpoint on another host than its FHIR server. If that host is the EHR’s own, enter it as the token URL (it is then used as given); otherwise do not.';
  }
  if (reason === 'timeout' || reason === 'network' || (status !== null && (status >= 500 || status === 429))) {
    return UNREACHABLE;
  }
  return 'The EHR does not publish its SMART configuration (.well-known/smart-configuration), so the token endpoint cannot be found. Enter the token URL from the EHR’s documentation for Backend Services.';
}

/** What to do when the access token request fails. */
function tokenFix(err: unknown, clientId: string): string {
  const { status, reason, oauthError } = facts(err);
  if (reason === 'egress-refused') return REFUSED_ADDRESS;
  if (err instanceof AppError && err.code === 'CONFIG_INVALID') {
    return 'The stored private key cannot be used. Enter the private key again (an RS384 or ES384 key, PEM or JWK).';
  }
  if (oauthError === 'invalid_scope') {
    return `The EHR does not grant the scopes ehr-autopilot asks for (system/*.read system/*.write). In the EHR, give client ${clientId} read access to the resources it reads and write access to MedicationRequest and Task.`;
  }
  if (oauthError === 'unauthorized_client' || oauthError === 'unsupported_grant_type') {
    return `The EHR does not allow client ${clientId} to use Backend Services (client_credentials). Enable it for the client in the EHR.`;
  }
  if (reason === 'timeout' || reason === 'network' || (status !== null && (status >= 500 || status === 429))) {
    return UNREACHABLE;
  }
  if (status === 404 || status === 405) {
    return 'Nothing takes token requests at the token URL. Check the token URL, or leave it empty to discover it from the EHR.';
  }
  return `The EHR did not accept our signed request. Check that client id ${clientId} is the one the EHR gave, and that the public key shown for this clinic (same key id) is registered with the EHR for that client; a new registration can take a few minutes to apply.`;
}

/** What to do when the test read fails. */
function readFix(err: unknown, withToken: boolean): string {
  const { status, reason } = facts(err);
  if (status === 401) {
    return withToken
      ? 'The EHR refused the access token it issued. Check that the client is registered for this FHIR server (not only for its authorization server), then check again.'
      : 'The EHR needs an access token. Enter the SMART client’s private key for this clinic.';
  }
  if (status === 403) {
    return 'The token may not search Patient. In the EHR, grant the client read access (system/Patient.read, or system/*.read).';
  }
  if (status === 400 || status === 422) {
    return 'The EHR refused a count-only Patient search (_summary=count). Check that the EHR supports Patient searches for Backend Services clients.';
  }
  if (reason === 'timeout' || reason === 'network' || (status !== null && (status >= 500 || status === 429))) {
    return UNREACHABLE;
  }
  return 'The EHR answered the Patient search with something other than a FHIR Bundle. Check the FHIR base URL.';
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
    throw new AppError('EHR_UNAVAILABLE', 'SMART discovery: the EHR did not answer', {
      context: { reason: 'network' },
    });
  }
  if (!res.ok) {
    throw new AppError('EHR_REJECTED', `SMART discovery: smart-configuration answered ${res.status}`, {
      context: { status: res.status },
    });
  }
  const parsed = SmartConfigurationSchema.safeParse(await res.json().catch(() => undefined));
  if (!parsed.success) throw new AppError('EHR_REJECTED', 'SMART discovery: smart-configuration has no token_endpoint');
  return assertDiscoveredTokenUrl(opts.baseUrl, parsed.data.token_endpoint);
}

/**
 * Checks an EHR connection the way the worker will use it, step by step: reads the CapabilityStatement (FHIR version,
 * batch, transaction, conditional create per type); with a key, discovers the token endpoint (unless configured) and
 * requests one access token; then searches Patient for a count only ({@link TEST_READ}). Why: onboarding should
 * show what is wrong, and what to do, before the first refill request does. Never throws for EHR faults: they are
 * failed steps, listed in `problems` too.
 */
export async function checkFhirConnection(opts: ConnectionCheckOptions): Promise<ConnectionReport> {
  const report: ConnectionReport = {
    ok: false,
    fhirVersion: null,
    batch: false,
    batchSetting: opts.batch ?? 'auto',
    batchSupport: 'none',
    transaction: false,
    conditionalCreateTypes: [],
    smart: { configured: opts.auth !== undefined || opts.keyError !== undefined, tokenEndpoint: null, tokenOk: false },
    steps: [],
    problems: [],
  };
  const step = (id: ConnectionStepId, status: ConnectionStep['status'], detail: string, fix: string | null = null) => {
    report.steps.push({ id, title: TITLES[id], status, detail, fix });
    if (status === 'fail') report.problems.push(detail);
  };
  const skipRest = (from: ConnectionStepId, why: string) => {
    for (const id of CONNECTION_STEPS.slice(CONNECTION_STEPS.indexOf(from))) step(id, 'skipped', why);
  };

  // Nothing is sent to a URL the policy refuses (loopback, metadata, http in production…).
  try {
    assertEgressUrl(opts.baseUrl, opts.egress, 'FHIR base URL');
  } catch (err) {
    step('capability_statement', 'fail', describe(err), capabilityFix(err));
    skipRest('smart_discovery', 'Not run: the FHIR base URL is not usable.');
    return report;
  }
  const requestId = opts.requestId ? { requestId: opts.requestId } : {};
  // The CapabilityStatement is public in SMART: read it without a token so a key problem does not hide it.
  const open = createFhirConnector({
    baseUrl: opts.baseUrl,
    timeoutMs: opts.timeoutMs,
    egress: opts.egress,
    batch: 'auto',
    ...requestId,
  });
  try {
    const caps = await open.capabilities();
    report.fhirVersion = caps.fhirVersion ?? null;
    // `open` runs in auto: it probes an EHR that does not advertise batch, so support is known for any setting.
    report.batchSupport = caps.batch ? (caps.batchFrom === 'advertised' ? 'advertised' : 'probed') : 'none';
    report.batch = report.batchSetting === 'auto' ? caps.batch : report.batchSetting === 'always';
    report.transaction = caps.transaction;
    report.conditionalCreateTypes = caps.conditionalCreateTypes;
    if (!caps.fhirVersion?.startsWith('4.0')) {
      step(
        'capability_statement',
        'fail',
        `FHIR version ${caps.fhirVersion ?? 'unknown'}: ehr-autopilot speaks R4 (4.0.x)`,
        'This server speaks another FHIR version. Enter the EHR’s FHIR R4 base URL (EHRs often serve several versions, e.g. …/STU3 and …/R4).',
      );
      skipRest('smart_discovery', 'Not run: the EHR does not speak FHIR R4 at this address.');
      return report;
    }
    const batch =
      report.batchSupport === 'advertised'
        ? 'batch'
        : report.batchSupport === 'probed'
          ? 'batch (not advertised; it answered a probe)'
          : null;
    const notes = [`FHIR ${caps.fhirVersion}`, batch, caps.transaction ? 'transaction' : null];
    const summary = `${notes.filter(Boolean).join(', ')}.`;
    if (report.batchSetting === 'always' && report.batchSupport === 'none') {
      step(
        'capability_statement',
        'fail',
        `${summary} The clinic’s batch setting is "always", but the EHR neither advertises batch nor answered a probe: every patient read would fail.`,
        'Set the clinic’s batch setting to auto (reads then go out as parallel searches when the EHR has no batch).',
      );
    } else {
      const consequence =
        report.batchSetting === 'never' && report.batchSupport !== 'none'
          ? ' Batch is off for this clinic (setting "never"): reading a patient’s context takes several round trips.'
          : report.batch
            ? ''
            : ' No batch interaction: reading a patient’s context will take several round trips (slower, still correct).';
      step('capability_statement', 'pass', `${summary}${consequence}`);
    }
  } catch (err) {
    step('capability_statement', 'fail', `CapabilityStatement: ${describe(err)}`, capabilityFix(err));
    skipRest('smart_discovery', 'Not run: the EHR’s CapabilityStatement could not be read.');
    return report;
  }

  let withToken = false;
  if (opts.keyError !== undefined) {
    step('smart_discovery', 'skipped', 'Not run: the stored private key cannot be used.');
    step(
      'token',
      'fail',
      opts.keyError,
      'The stored private key cannot be read by this server (its PAYLOAD_KEY may have changed). Enter the private key again.',
    );
  } else if (!opts.auth) {
    step('smart_discovery', 'skipped', 'No private key: the EHR is used without an access token.');
    step('token', 'skipped', 'No private key: no access token is requested.');
    report.problems.push('No SMART client key: requests will carry no access token');
  } else {
    let tokenUrl = opts.auth.tokenUrl;
    if (tokenUrl) {
      step('smart_discovery', 'skipped', `Not needed: the token URL is set (${tokenUrl}).`);
    } else {
      try {
        tokenUrl = await discoverTokenEndpoint(opts);
        step('smart_discovery', 'pass', `Token endpoint ${tokenUrl}.`);
      } catch (err) {
        step('smart_discovery', 'fail', describe(err), discoveryFix(err));
      }
    }
    if (tokenUrl === undefined) {
      step('token', 'skipped', 'Not run: no token endpoint.');
    } else {
      report.smart.tokenEndpoint = tokenUrl;
      try {
        assertEgressUrl(tokenUrl, opts.egress, 'Token URL');
        await createAccessTokenSource({
          ...opts.auth,
          tokenUrl,
          baseUrl: opts.baseUrl,
          timeoutMs: opts.timeoutMs,
          egress: opts.egress,
          ...requestId,
        }).token();
        report.smart.tokenOk = true;
        withToken = true;
        step('token', 'pass', `The EHR issued an access token to client ${opts.auth.clientId}.`);
      } catch (err) {
        step('token', 'fail', describe(err), tokenFix(err, opts.auth.clientId));
      }
    }
  }

  if (report.smart.configured && !withToken) {
    step('test_read', 'skipped', 'Not run: there is no access token to read with.');
  } else {
    // A connector of its own: with a key, it asks for its own token (the token step's is not shared).
    const reader = createFhirConnector({
      baseUrl: opts.baseUrl,
      timeoutMs: opts.timeoutMs,
      egress: opts.egress,
      ...requestId,
      ...(opts.auth && report.smart.tokenEndpoint
        ? { auth: { ...opts.auth, tokenUrl: report.smart.tokenEndpoint } }
        : {}),
    });
    try {
      await reader.search(TEST_READ.resourceType, TEST_READ.params);
      step(
        'test_read',
        'pass',
        `Searched ${TEST_READ_TEXT}: the EHR answered with a count only (no patient record read).`,
      );
    } catch (err) {
      step('test_read', 'fail', `Test read ${TEST_READ_TEXT}: ${describe(err)}`, readFix(err, withToken));
    }
  }
  report.ok = report.steps.every((s) => s.status !== 'fail');
  return report;
}
