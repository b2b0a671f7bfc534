import { createMiddleware } from 'hono/factory';
import { AppError } from '../../rules/index.ts';
import { ROLES, type Role } from '../../rules/lifecycle/index.ts';
import type { Clinic, Store } from '../../connectors/db/index.ts';
import type { ApiEnv, Principal } from '../env.ts';

export type TokenLookup = (rawToken: string) => Promise<Principal | null>;

/**
 * Looks bearer tokens up in the app database (hashed at rest; revoked tokens are not found).
 *
 * @throws AppError `UNAUTHENTICATED` for an expired token; `FORBIDDEN` for a clinician token bound to no clinic
 * once the installation has several clinics (it would otherwise see every clinic's patients).
 */
export function storeTokenLookup(
  store: Pick<Store, 'tokens' | 'clinics'>,
  now: () => Date = () => new Date(),
): TokenLookup {
  return async (raw) => {
    const t = await store.tokens.findByToken(raw);
    if (!t) return null;
    const at = now();
    if (t.expiresAt !== null && Date.parse(t.expiresAt) <= at.getTime()) {
      throw new AppError('UNAUTHENTICATED', 'This token has expired; ask an admin for a new one');
    }
    if (t.role === 'privacy' && t.clinicId === null) {
      throw new AppError('FORBIDDEN', 'A privacy officer’s token must name its clinic');
    }
    if (t.role !== 'admin' && t.clinicId === null && (await store.clinics.count()) > 1) {
      throw new AppError(
        'FORBIDDEN',
        'This token is bound to no clinic and this installation has several: a clinician token must name its clinic',
      );
    }
    // A failed bookkeeping write must not refuse an otherwise valid request.
    await store.tokens.touch(t, at).catch(() => undefined);
    return { userId: t.userId, role: t.role, clinicId: t.clinicId, tokenId: t.id };
  };
}

/**
 * Roles that reach only the routes that name them: a privacy officer reads access monitoring (and `/v1/me`), never the
 * work itself (cases, queues, protocols), so a route that names no role is closed to it.
 */
const NAMED_ONLY: readonly Role[] = ['privacy'];

/** Every role: for the routes any token may read (`/v1/me`). */
export const ANY_ROLE: readonly Role[] = ROLES;

/**
 * Authenticates `Authorization: Bearer <token>` and authorises by role: the roles given, or, when none are, every role
 * but those that reach only the routes that name them ({@link NAMED_ONLY}).
 */
export function requireRole(lookup: TokenLookup, ...roles: Role[]) {
  const allowed = roles.length > 0 ? roles : ROLES.filter((r) => !NAMED_ONLY.includes(r));
  return createMiddleware<ApiEnv>(async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const m = /^Bearer\s+([A-Za-z0-9._~+/=-]{8,512})$/i.exec(header.trim());
    if (!m) throw new AppError('UNAUTHENTICATED', 'Missing or malformed bearer token');
    const principal = await lookup(m[1]!);
    if (!principal) throw new AppError('UNAUTHENTICATED', 'Unknown or revoked token');
    if (!allowed.includes(principal.role)) {
      throw new AppError(
        'FORBIDDEN',
        roles.length > 0
          ? `This needs the role ${roles.join(' or ')}`
          : `A ${principal.role} token reads access monitoring only, not cases, queues or settings`,
      );
    }
    c.set('principal', principal);
    await next();
  });
}

/** A global admin: role `admin` bound to no clinic. Clinic-bound admins manage only their own clinic. */
export function isGlobalAdmin(principal: Principal): boolean {
  return principal.role === 'admin' && principal.clinicId === null;
}

/** @throws AppError `FORBIDDEN` unless the caller is a global admin; `what` completes "Only a global admin may …". */
export function assertGlobalAdmin(principal: Principal, what: string): void {
  if (!isGlobalAdmin(principal)) {
    throw new AppError('FORBIDDEN', `Only a global admin (an admin token bound to no clinic) may ${what}`);
  }
}

/**
 * The clinic lookup of the per-clinic routes: a clinic-bound token sees only its clinic; any other clinic, like a
 * clinic that does not exist, is `NOT_FOUND` (clinic ids cannot be probed).
 */
export function clinicVisibleTo(store: Pick<Store, 'clinics'>) {
  return async (principal: Principal, id: string): Promise<Clinic> => {
    const clinic = principal.clinicId === null || principal.clinicId === id ? await store.clinics.get(id) : null;
    if (!clinic) throw new AppError('NOT_FOUND', 'No such clinic');
    return clinic;
  };
}
