import type { Logger } from '../connectors/logger.ts';
import type { Role } from '../rules/schema/case.ts';

/** Who is calling, from their bearer token (never from the body). */
export interface Principal {
  userId: string;
  role: Role;
  /** A token bound to one clinic may only see that clinic's cases; null = all clinics (single-clinic installs). */
  clinicId: string | null;
  /** The public id of the bearer token (`tok_…`), for audit rows; absent for principals not from a token. */
  tokenId?: string;
}

export interface ApiEnv {
  Variables: {
    /** The server's own id for this request (a UUID): the one in logs, audit rows, error bodies and X-Request-Id. */
    requestId: string;
    /** The caller's X-Request-Id, when it is a well-formed id (api/middleware/request-id.ts); logged beside ours. */
    callerRequestId: string | undefined;
    logger: Logger;
    principal: Principal;
  };
}
