import { createHash } from 'node:crypto';
import { z } from 'zod';
import { RoleSchema } from '../../rules/schema/case.ts';
import { mapDbErrors, nowIso, parseInput } from './dialect.ts';
import type { Db } from './open.ts';
import type { TokenRole } from './schema.ts';
import { UserIdSchema } from './tokens.ts';

// SMART App Launch (issue 12 §3): a clinic's app client at its EHR, which console user and role each EHR user signs
// in as, launches under way and finished sign-ins waiting for the console. Launch state and hand-off codes are stored
// as sha256 hashes, used once and deleted, and expire within minutes.

/** An EHR user reference as SMART's `fhirUser` names it, relative: `Practitioner/123`. */
export const FHIR_USER_PATTERN = /^(Practitioner|PractitionerRole|Patient|RelatedPerson|Person)\/[A-Za-z0-9\-.]{1,64}$/;
export const FhirUserSchema = z.string().regex(FHIR_USER_PATTERN, 'a relative reference such as Practitioner/123');

export interface SmartClient {
  clinicId: string;
  clientId: string;
  updatedAt: string;
}

export interface SmartUser {
  clinicId: string;
  fhirUser: string;
  userId: string;
  role: TokenRole;
  updatedAt: string;
}

export type LaunchMode = 'ehr' | 'standalone';

export interface SmartLaunch {
  clinicId: string;
  clientId: string;
  redirectUri: string;
  tokenEndpoint: string;
  codeVerifier: string;
  mode: LaunchMode;
  expiresAt: string;
}

export interface SmartHandoff {
  clinicId: string;
  userId: string;
  role: TokenRole;
  fhirUser: string;
  patientId: string | null;
  mode: LaunchMode;
  expiresAt: string;
}

/**
 * The roles an EHR user can sign in as: the clinicians' and the admin's. A privacy officer reads access monitoring
 * with their own token; a console opened from the EHR with a patient in context is not for that role.
 */
export const SmartRoleSchema = RoleSchema.exclude(['privacy']);

const ClientIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits, . _ : -');
const PutUserSchema = z.strictObject({
  clinicId: z.string().min(1),
  fhirUser: FhirUserSchema,
  userId: UserIdSchema,
  role: SmartRoleSchema,
});

export interface SmartRepo {
  getClient(clinicId: string): Promise<SmartClient | null>;
  /** The clinics whose SMART client is registered at the EHR of this FHIR base (with or without a trailing /). */
  clientsForIss(iss: string): Promise<(SmartClient & { fhirBaseUrl: string })[]>;
  putClient(clinicId: string, clientId: string): Promise<SmartClient>;
  removeClient(clinicId: string): Promise<boolean>;
  listUsers(clinicId: string): Promise<SmartUser[]>;
  getUser(clinicId: string, fhirUser: string): Promise<SmartUser | null>;
  putUser(user: Omit<SmartUser, 'updatedAt'>): Promise<SmartUser>;
  removeUser(clinicId: string, fhirUser: string): Promise<boolean>;
  /** Stores a launch under the hash of its `state` (and drops expired launches and hand-offs). */
  createLaunch(state: string, launch: SmartLaunch): Promise<void>;
  /** The launch of `state`, deleted as it is read (single use); null when unknown or expired. */
  takeLaunch(state: string, now: Date): Promise<SmartLaunch | null>;
  createHandoff(code: string, handoff: SmartHandoff): Promise<void>;
  /** The hand-off of `code`, deleted as it is read (single use); null when unknown or expired. */
  takeHandoff(code: string, now: Date): Promise<SmartHandoff | null>;
}

const hash = (secret: string) => createHash('sha256').update(secret, 'utf8').digest('hex');
const trimSlash = (url: string) => url.replace(/\/+$/, '');

export function createSmartRepo({ kysely }: Db): SmartRepo {
  const purge = async (now: string) => {
    await kysely.deleteFrom('smart_launches').where('expiresAt', '<=', now).execute();
    await kysely.deleteFrom('smart_handoffs').where('expiresAt', '<=', now).execute();
  };
  return {
    async getClient(clinicId) {
      const row = await kysely
        .selectFrom('smart_clients')
        .select(['clinicId', 'clientId', 'updatedAt'])
        .where('clinicId', '=', clinicId)
        .executeTakeFirst();
      return row ?? null;
    },
    async clientsForIss(iss) {
      const base = trimSlash(iss);
      return kysely
        .selectFrom('smart_clients')
        .innerJoin('clinics', 'clinics.id', 'smart_clients.clinicId')
        .select(['smart_clients.clinicId', 'smart_clients.clientId', 'smart_clients.updatedAt', 'clinics.fhirBaseUrl'])
        .where('clinics.fhirBaseUrl', 'in', [base, `${base}/`])
        .limit(10)
        .execute();
    },
    async putClient(clinicId, clientId) {
      const id = parseInput(ClientIdSchema, clientId, 'SMART client id');
      const at = nowIso();
      await mapDbErrors('SMART client', () =>
        kysely
          .insertInto('smart_clients')
          .values({ clinicId, clientId: id, createdAt: at, updatedAt: at })
          .onConflict((oc) => oc.column('clinicId').doUpdateSet({ clientId: id, updatedAt: at }))
          .execute(),
      );
      return { clinicId, clientId: id, updatedAt: at };
    },
    async removeClient(clinicId) {
      const r = await kysely.deleteFrom('smart_clients').where('clinicId', '=', clinicId).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    },
    async listUsers(clinicId) {
      return kysely
        .selectFrom('smart_users')
        .select(['clinicId', 'fhirUser', 'userId', 'role', 'updatedAt'])
        .where('clinicId', '=', clinicId)
        .orderBy('fhirUser')
        .limit(500)
        .execute();
    },
    async getUser(clinicId, fhirUser) {
      const row = await kysely
        .selectFrom('smart_users')
        .select(['clinicId', 'fhirUser', 'userId', 'role', 'updatedAt'])
        .where('clinicId', '=', clinicId)
        .where('fhirUser', '=', fhirUser)
        .executeTakeFirst();
      return row ?? null;
    },
    async putUser(user) {
      const u = parseInput(PutUserSchema, user, 'SMART user');
      const at = nowIso();
      await mapDbErrors('SMART user', () =>
        kysely
          .insertInto('smart_users')
          .values({ ...u, createdAt: at, updatedAt: at })
          .onConflict((oc) =>
            oc.columns(['clinicId', 'fhirUser']).doUpdateSet({ userId: u.userId, role: u.role, updatedAt: at }),
          )
          .execute(),
      );
      return { ...u, updatedAt: at };
    },
    async removeUser(clinicId, fhirUser) {
      const r = await kysely
        .deleteFrom('smart_users')
        .where('clinicId', '=', clinicId)
        .where('fhirUser', '=', fhirUser)
        .executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    },
    async createLaunch(state, launch) {
      const at = nowIso();
      await purge(at);
      await kysely
        .insertInto('smart_launches')
        .values({ id: hash(state), ...launch, createdAt: at })
        .execute();
    },
    async takeLaunch(state, now) {
      return kysely.transaction().execute(async (trx) => {
        const id = hash(state);
        const row = await trx
          .selectFrom('smart_launches')
          .select(['clinicId', 'clientId', 'redirectUri', 'tokenEndpoint', 'codeVerifier', 'mode', 'expiresAt'])
          .where('id', '=', id)
          .executeTakeFirst();
        if (!row) return null;
        const deleted = await trx.deleteFrom('smart_launches').where('id', '=', id).executeTakeFirst();
        if (Number(deleted.numDeletedRows) !== 1) return null;
        return Date.parse(row.expiresAt) > now.getTime() ? row : null;
      });
    },
    async createHandoff(code, handoff) {
      await kysely
        .insertInto('smart_handoffs')
        .values({ id: hash(code), ...handoff, createdAt: nowIso() })
        .execute();
    },
    async takeHandoff(code, now) {
      return kysely.transaction().execute(async (trx) => {
        const id = hash(code);
        const row = await trx
          .selectFrom('smart_handoffs')
          .select(['clinicId', 'userId', 'role', 'fhirUser', 'patientId', 'mode', 'expiresAt'])
          .where('id', '=', id)
          .executeTakeFirst();
        if (!row) return null;
        const deleted = await trx.deleteFrom('smart_handoffs').where('id', '=', id).executeTakeFirst();
        if (Number(deleted.numDeletedRows) !== 1) return null;
        return Date.parse(row.expiresAt) > now.getTime() ? row : null;
      });
    },
  };
}
