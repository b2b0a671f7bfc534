import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Store } from '../connectors/db/index.ts';
import { publicUrl, type Config } from '../connectors/config.ts';
import { generateClientKeyPair } from '../connectors/fhir/auth.ts';
import type { Logger } from '../connectors/logger.ts';
import { canonicalJson } from '../rules/engine/diff.ts';
import { BUILTIN_DEFINITIONS, KINDS, parseAnyProtocol } from '../rules/kinds/index.ts';

/** A built-in protocol version of some kind, as the registry lists it. */
type Builtin = (typeof BUILTIN_DEFINITIONS)[number];

/**
 * Makes sure every built-in protocol exists with a published version, and that a newer built-in version shipped by
 * this release reaches installations seeded earlier (see `offerBuiltinUpdate`). Idempotent; safe from several
 * replicas (a race can at worst add one duplicate draft).
 */
export async function ensureBuiltinProtocols(store: Store, logger: Logger): Promise<void> {
  for (const builtin of BUILTIN_DEFINITIONS) {
    const { definition, kind } = builtin;
    if (await store.protocols.get(definition.id)) {
      await offerBuiltinUpdate(store, logger, builtin);
      continue;
    }
    try {
      await store.protocols.create({ id: definition.id, title: definition.title, kind });
      const draft = await store.protocols.createDraft({
        protocolId: definition.id,
        definition,
        by: 'system',
        note: BUILTIN_NOTE,
      });
      await store.protocols.publish({ protocolId: definition.id, version: draft.version, by: 'system' });
      logger.info({ protocolId: definition.id, version: draft.version }, 'built-in protocol published');
    } catch (err) {
      // Another replica seeded it at the same moment.
      if (!(await store.protocols.getPublished(definition.id))) throw err;
    }
  }
}

const BUILTIN_NOTE = 'Built-in protocol';

/**
 * A built-in protocol that exists already, and this release ships content no stored version has (for example
 * standard-chronic-care v2, which closes unsafe auto-approvals): the new content is added as a version by `system`.
 * It is published globally only when the live version is itself an unmodified built-in (seeded by `system`): a
 * clinic that runs the library as shipped gets the fix. When an admin published their own version, it stays live and
 * the update waits as a draft for them to review, simulate and publish. Clinics pinned to a version keep their pin
 * either way (a pin is an admin's explicit choice); the log says so.
 */
async function offerBuiltinUpdate(store: Store, logger: Logger, { definition, kind }: Builtin): Promise<void> {
  // Compared as parsed now, so that a field this release defaults does not make an unchanged built-in look new.
  const parsedNow = (stored: unknown): string | null => {
    try {
      return canonicalJson(parseAnyProtocol(stored, kind).definition);
    } catch {
      return null; // a stored version this release can no longer parse is not the built-in's content
    }
  };
  const content = canonicalJson(definition);
  const versions = await store.protocols.listVersions(definition.id);
  if (versions.some((v) => parsedNow(v.definition) === content)) return;
  const live = await store.protocols.getPublished(definition.id);
  const draft = await store.protocols.createDraft({
    protocolId: definition.id,
    definition,
    by: 'system',
    note: `${BUILTIN_NOTE} (release version ${definition.version})`,
  });
  const ids = { protocolId: definition.id, version: draft.version, releaseVersion: definition.version };
  if (live === null || (live.createdBy === 'system' && (live.note ?? '').startsWith(BUILTIN_NOTE))) {
    await store.protocols.publish({ protocolId: definition.id, version: draft.version, by: 'system' });
    logger.warn(
      { ...ids, previousVersion: live?.version ?? null },
      'built-in protocol updated: the new version is live (clinics pinned to an older version keep their pin)',
    );
  } else {
    logger.warn(
      { ...ids, liveVersion: live.version },
      "built-in protocol update added as a draft: the live version is an admin's own; review and publish it",
    );
  }
}

export interface DemoCredentials {
  clinicId: string;
  webhookSecret: string;
  /** One token per role; `pharmacist` and `pa` are absent from credentials saved before those roles existed. */
  tokens: { admin: string; doctor: string; nurse: string; pharmacist: string; pa: string };
  fhirClientId: string;
  /** The console's SMART App Launch client at the sandbox EHR, and its redirect URI (the sandbox re-registers it). */
  smartClientId?: string;
  smartRedirectUri?: string;
}

/** The demo clinic as seeded: its credentials, and whether its EHR (the sandbox) is ready for it. */
export interface DemoClinic extends DemoCredentials {
  /** The sandbox EHR answers and has the demo client registered (so a webhook now can be triaged). */
  ehrReady(): Promise<boolean>;
}

const DEMO_CLINIC = 'demo';
const DEMO_SMART_CLIENT = 'ehr-autopilot-console';
/**
 * The sandbox's practitioners (sandbox/synthetic/catalog.ts) who can open the demo console from the EHR, as the demo
 * tokens' users. The other practitioners stay unmapped: their sign-in shows the refusal.
 */
export const DEMO_SMART_USERS = [
  { fhirUser: 'Practitioner/pract-pcp-1', userId: 'demo-doctor', role: 'doctor' },
  { fhirUser: 'Practitioner/pract-ccn-1', userId: 'demo-nurse', role: 'nurse' },
] as const;
const token = () => randomBytes(24).toString('base64url');

/**
 * The demo clinic `demo` (only with DEMO=1, which `npm start` sets): protocol family-medicine-2015, the sandbox EHR with SMART Backend Services auth, webhook
 * secret and tokens from DEMO_* or generated once and kept in $DATA_DIR/demo-credentials.json (so a second start
 * finds them again). Registers the clinic's public key with the sandbox on every start (the sandbox is in memory).
 */
export async function ensureDemoClinic(store: Store, config: Config, logger: Logger): Promise<DemoClinic> {
  const file = join(config.DATA_DIR, 'demo-credentials.json');
  const saved = existsSync(file)
    ? (JSON.parse(readFileSync(file, 'utf8')) as DemoCredentials & { privateJwk?: unknown; publicJwks?: unknown })
    : undefined;
  const keys =
    saved?.privateJwk && saved.publicJwks
      ? { privateJwk: saved.privateJwk, publicJwks: saved.publicJwks }
      : await generateClientKeyPair();
  const creds: DemoCredentials = {
    clinicId: DEMO_CLINIC,
    webhookSecret: config.DEMO_WEBHOOK_SECRET ?? saved?.webhookSecret ?? token(),
    tokens: {
      admin: config.DEMO_ADMIN_TOKEN ?? saved?.tokens.admin ?? token(),
      doctor: config.DEMO_DOCTOR_TOKEN ?? saved?.tokens.doctor ?? token(),
      nurse: config.DEMO_NURSE_TOKEN ?? saved?.tokens.nurse ?? token(),
      pharmacist: config.DEMO_PHARMACIST_TOKEN ?? saved?.tokens.pharmacist ?? token(),
      pa: config.DEMO_PA_TOKEN ?? saved?.tokens.pa ?? token(),
    },
    fhirClientId: 'ehr-autopilot-demo',
    smartClientId: DEMO_SMART_CLIENT,
    smartRedirectUri: `${publicUrl(config)}/smart/callback`,
  };
  mkdirSync(config.DATA_DIR, { recursive: true });
  writeFileSync(file, JSON.stringify({ ...creds, ...keys }, null, 2), { mode: 0o600 });

  const sandboxBase = `http://127.0.0.1:${config.SANDBOX_PORT}`;
  const existing = await store.clinics.get(DEMO_CLINIC);
  await store.clinics.upsert({
    id: DEMO_CLINIC,
    name: 'Demo Family Medicine',
    webhookSecret: creds.webhookSecret,
    fhirBaseUrl: `${sandboxBase}/fhir/R4`,
    fhirClientId: creds.fhirClientId,
    fhirPrivateKeyJwk: JSON.stringify(keys.privateJwk),
    fhirTokenUrl: null,
    protocolId: existing?.protocolId ?? 'family-medicine-2015',
    nurseSlaSeconds: existing?.nurseSlaSeconds ?? 4 * 3600,
    timezone: existing?.timezone ?? 'America/Chicago',
  });
  await enableDemoKinds(store, existing?.protocolId ?? 'family-medicine-2015');
  // SMART App Launch from the sandbox EHR: the console's client and the demo practitioners (an admin's changes kept).
  if (!(await store.smart.getClient(DEMO_CLINIC))) await store.smart.putClient(DEMO_CLINIC, DEMO_SMART_CLIENT);
  for (const user of DEMO_SMART_USERS) {
    if (!(await store.smart.getUser(DEMO_CLINIC, user.fhirUser)))
      await store.smart.putUser({ clinicId: DEMO_CLINIC, ...user });
  }
  for (const role of ['admin', 'doctor', 'nurse', 'pharmacist', 'pa'] as const) {
    if (!(await store.tokens.findByToken(creds.tokens[role]))) {
      await store.tokens.createToken({
        name: `demo ${role}`,
        role,
        userId: `demo-${role}`,
        clinicId: DEMO_CLINIC,
        token: creds.tokens[role],
      });
    }
  }
  // The sandbox keeps registrations in memory: register the demo client's public key at every start. The sandbox
  // may still be loading its patients, so keep trying in the background for a minute.
  let registered = false;
  void registerWithSandbox(
    `${sandboxBase}/oauth2/register`,
    { client_id: creds.fhirClientId, jwks: keys.publicJwks },
    logger,
  ).then((ok) => (registered = ok));
  void registerWithSandbox(
    `${sandboxBase}/oauth2/register`,
    { client_id: DEMO_SMART_CLIENT, redirect_uris: [creds.smartRedirectUri] },
    logger,
  );
  return {
    ...creds,
    async ehrReady() {
      if (!registered) return false;
      const res = await fetch(`${sandboxBase}/fhir/R4/metadata`, { signal: AbortSignal.timeout(2000) });
      await res.body?.cancel();
      return res.ok;
    },
  };
}

/**
 * The demo clinic runs every kind, each enabled once (a setting an admin changed afterwards, enabled or not, is kept):
 * the kind of its own protocolId with its switch on (its automation), every other kind with that kind's first
 * built-in protocol.
 */
async function enableDemoKinds(store: Store, protocolId: string): Promise<void> {
  const own = (await store.protocols.get(protocolId))?.kind;
  const stored = new Set((await store.clinics.kinds(DEMO_CLINIC)).map((k) => k.kind));
  const kinds = KINDS.filter((k) => !stored.has(k.id)).flatMap((k) => {
    if (k.id === own) return [{ kind: k.id, enabled: true }];
    const builtin = BUILTIN_DEFINITIONS.find((b) => b.kind === k.id);
    return builtin ? [{ kind: k.id, enabled: true, protocolId: builtin.definition.id }] : [];
  });
  if (kinds.length) await store.clinics.updateSettings(DEMO_CLINIC, { kinds });
}

async function registerWithSandbox(url: string, registration: object, logger: Logger): Promise<boolean> {
  for (let attempt = 0; attempt < 60; attempt++) {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(registration),
        signal: AbortSignal.timeout(5000),
      });
      if (res.ok) return true;
      logger.warn({ status: res.status }, 'sandbox EHR refused the demo client registration');
      return false;
    } catch {
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  logger.warn({ url }, 'sandbox EHR not reachable: the demo clinic cannot read FHIR until it is');
  return false;
}
