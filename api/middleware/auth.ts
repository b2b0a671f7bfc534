import { createMiddleware } from 'hono/factory';
import { AppError } from '../../rules/index.ts';
import type { Role } from '../../rules/schema/case.ts';
import type { Store } from '../../connectors/db/index.ts';
import type { ApiEnv, Principal } from '../env.ts';

export type TokenLookup = (rawToken: string) => Promise<Principal | null>;

/** Looks bearer tokens up in the app database (hashed at rest; revoked tokens are not found). */
export function storeTokenLookup(store: Pick<Store, 'tokens'>): TokenLookup {
  return async (raw) => {
    const t = await store.tokens.findByToken(raw);
    return t ? { userId: t.userId, role: t.role, clinicId: t.clinicId } : null;
  };
}

/** Authenticates `Authorization: Bearer <token>` and, when roles are given, authorises by role. */
export function requireRole(lookup: TokenLookup, ...roles: Role[]) {
  return createMiddleware<ApiEnv>(async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const m = /^Bearer\s+([A-Za-z0-9._~+/=-]{8,512})$/i.exec(header.trim());
    if (!m) throw new AppError('UNAUTHENTICATED', 'Missing or malformed bearer token');
    const principal = await lookup(m[1]!);
    if (!principal) throw new AppError('UNAUTHENTICATED', 'Unknown or revoked token');
    if (roles.length > 0 && !roles.includes(principal.role)) {
      throw new AppError('FORBIDDEN', `This needs the role ${roles.join(' or ')}`);
    }
    c.set('principal', principal);
    await next();
  });
}
