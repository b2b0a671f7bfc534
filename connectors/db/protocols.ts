import type { Kysely } from 'kysely';
import { z } from 'zod';
import { AppError } from '../../rules/index.ts';
import { insertAudit, type AuditInput } from './audit.ts';
import { IdSchema } from './clinics.ts';
import {
  jsonText,
  jsonValue,
  mapDbErrors,
  needsRowLock,
  nowIso,
  parsedJson,
  parseInput,
  toJsonText,
} from './dialect.ts';
import type { Db } from './open.ts';
import type { Database } from './schema.ts';

export const ProtocolSchema = z.object({
  id: z.string(),
  title: z.string(),
  /** The protocol kind (rules/kinds/), fixed at creation. */
  kind: z.string(),
  publishedVersion: z.number().int().nullable(),
  latestVersion: z.number().int(),
  createdAt: z.string(),
});
export type ProtocolRecord = z.output<typeof ProtocolSchema>;

export const ProtocolVersionSchema = z.object({
  protocolId: z.string(),
  version: z.number().int(),
  status: z.enum(['draft', 'published', 'retired']),
  /** The protocol document, opaque here: rules/ owns its schema and validates it before it is stored. */
  definition: jsonText(parsedJson),
  note: z.string().nullable(),
  createdBy: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  publishedAt: z.string().nullable(),
  publishedBy: z.string().nullable(),
});
export type ProtocolVersionRecord = z.output<typeof ProtocolVersionSchema>;

const CreateProtocolSchema = z.strictObject({
  id: IdSchema,
  title: z.string().min(1).max(200),
  /** The protocol kind, fixed from now on; absent: the kind every protocol had before kinds (the column default). */
  kind: z.string().min(1).max(64).optional(),
});
/** Who asked, for the audit row: the role, the API request id and the token's public id (absent: the system). */
const ActorSchema = {
  role: z.string().min(1).nullable().default(null),
  requestId: z.string().min(1).nullable().default(null),
  tokenId: z.string().min(1).nullable().default(null),
};
const DraftSchema = z.strictObject({
  protocolId: z.string(),
  definition: jsonValue,
  by: z.string().min(1),
  note: z.string().max(2000).nullable().default(null),
  ...ActorSchema,
});
const UpdateDraftSchema = DraftSchema.extend({ version: z.number().int().positive() });
const PointerSchema = z.strictObject({
  protocolId: z.string(),
  version: z.number().int().positive(),
  by: z.string().min(1),
  /** Publish for this clinic only: the clinic is pinned to the version, the protocol's live pointer is unchanged. */
  clinicId: z.string().min(1).optional(),
  /**
   * Why: becomes the note of the version this call publishes from a draft (frozen with it); a rollback's new version
   * is noted "Rollback of vK: <note>". A version already published keeps its own note.
   */
  note: z.string().min(1).max(2000).optional(),
  ...ActorSchema,
});
type Pointer = z.output<typeof PointerSchema>;

/** Who made a change, as the API knows it: written into the change's audit row. */
export interface ChangeActor {
  role?: string | null;
  requestId?: string | null;
  tokenId?: string | null;
}

export interface PublishResult {
  published: ProtocolVersionRecord;
  /**
   * The version that was live before (now retired; null for a first publish), or, when published for one clinic,
   * the clinic's previous pinned version (null: it followed the live version).
   */
  previousVersion: number | null;
  /** Set when the version was published for this clinic only. */
  clinicId: string | null;
  /** False when the version was already the published one (a retried request): nothing was written. */
  changed: boolean;
}

export interface ProtocolRepo {
  /** Creates a protocol; CONFLICT if the id is taken. With `audit`, the entry commits in the same transaction. */
  create(input: { id: string; title: string; kind?: string }, audit?: AuditInput): Promise<ProtocolRecord>;
  get(id: string): Promise<ProtocolRecord | null>;
  list(): Promise<ProtocolRecord[]>;
  /** Adds the next version as a draft. Version numbers are unique and gap-free per protocol, also under concurrency. */
  createDraft(
    input: {
      protocolId: string;
      definition: unknown;
      by: string;
      note?: string | null;
    } & ChangeActor,
  ): Promise<ProtocolVersionRecord>;
  /**
   * Replaces a draft's definition; a published or retired version never changes (CONFLICT). With `audit`, the entry
   * (from the version before and after) commits in the same transaction.
   */
  updateDraft(
    input: {
      protocolId: string;
      version: number;
      definition: unknown;
      by: string;
      note?: string | null;
    },
    audit?: (before: ProtocolVersionRecord, after: ProtocolVersionRecord) => AuditInput,
  ): Promise<ProtocolVersionRecord>;
  /**
   * Makes a draft the live version; the previous live version becomes 'retired'. With `clinicId`: the version becomes
   * immutable ('published') and is assigned to that clinic only (a version already published may be assigned too);
   * the live pointer is unchanged. With `note`, a draft published here takes it as its note. One transaction, audited.
   */
  publish(
    input: { protocolId: string; version: number; by: string; clinicId?: string; note?: string } & ChangeActor,
  ): Promise<PublishResult>;
  /**
   * Publishes an earlier published version's content again as a NEW version N+1 (note "Rollback of vK"), globally or
   * for one clinic, so the history stays append-only. Every call creates a version ("Rollback of vK: <note>" with a
   * note). One transaction, audited.
   */
  rollback(
    input: { protocolId: string; toVersion: number; by: string; clinicId?: string; note?: string } & ChangeActor,
  ): Promise<PublishResult>;
  getVersion(protocolId: string, version: number): Promise<ProtocolVersionRecord | null>;
  getPublished(protocolId: string): Promise<ProtocolVersionRecord | null>;
  /** Newest version first. */
  listVersions(protocolId: string): Promise<ProtocolVersionRecord[]>;
}

/**
 * Protocols and their immutable versions. A running case pins `(protocolId, version)`; because a version's
 * definition can only change while it is a draft, that pin always reads the rules the case was triaged with.
 * Draft creation, publish and rollback write their own audit entries in the same transaction.
 */
export function createProtocolRepo({ kysely, dialect }: Db): ProtocolRepo {
  const lock = needsRowLock(dialect);

  async function lockProtocol(trx: Kysely<Database>, id: string) {
    const row = await trx
      .selectFrom('protocols')
      .selectAll()
      .where('id', '=', id)
      .$if(lock, (q) => q.forUpdate())
      .executeTakeFirst();
    if (row === undefined) throw new AppError('NOT_FOUND', 'Protocol not found', { context: { protocolId: id } });
    return ProtocolSchema.parse(row);
  }

  async function readVersion(trx: Kysely<Database>, protocolId: string, version: number) {
    const row = await trx
      .selectFrom('protocol_versions')
      .selectAll()
      .where('protocolId', '=', protocolId)
      .where('version', '=', version)
      .executeTakeFirst();
    if (row === undefined) {
      throw new AppError('NOT_FOUND', 'Protocol version not found', { context: { protocolId, version } });
    }
    return ProtocolVersionSchema.parse(row);
  }

  /** Points the protocol at `target` (retiring the current live version) inside an open transaction. */
  async function repoint(
    trx: Kysely<Database>,
    protocol: ProtocolRecord,
    target: ProtocolVersionRecord,
    p: Pointer,
    action: 'protocol.published' | 'protocol.rolled_back',
    detail: Record<string, string | number | null> = {},
  ): Promise<PublishResult> {
    const { by } = p;
    const now = nowIso();
    const previousVersion = protocol.publishedVersion;
    if (previousVersion !== null) {
      await trx
        .updateTable('protocol_versions')
        .set({ status: 'retired' })
        .where('protocolId', '=', protocol.id)
        .where('version', '=', previousVersion)
        .execute();
    }
    const published = await trx
      .updateTable('protocol_versions')
      .set({ status: 'published', publishedAt: now, publishedBy: by, ...(p.note !== undefined && { note: p.note }) })
      .where('protocolId', '=', protocol.id)
      .where('version', '=', target.version)
      .returningAll()
      .executeTakeFirstOrThrow();
    await trx
      .updateTable('protocols')
      .set({ publishedVersion: target.version })
      .where('id', '=', protocol.id)
      .execute();
    await insertAudit(trx, {
      at: now,
      actorType: 'user',
      actorId: by,
      actorRole: p.role,
      requestId: p.requestId,
      action,
      protocolId: protocol.id,
      protocolVersion: target.version,
      detail: { ...detail, scope: 'global', previousVersion, ...(p.tokenId ? { tokenId: p.tokenId } : {}) },
    });
    return { published: ProtocolVersionSchema.parse(published), previousVersion, clinicId: null, changed: true };
  }

  /** Marks `target` published (immutable) and pins `clinicId` to it, inside an open transaction. */
  async function assignToClinic(
    trx: Kysely<Database>,
    protocol: ProtocolRecord,
    target: ProtocolVersionRecord,
    p: Pointer,
    clinicId: string,
    action: 'protocol.published' | 'protocol.rolled_back',
    detail: Record<string, string | number | null> = {},
  ): Promise<PublishResult> {
    const { by } = p;
    const clinic = await trx
      .selectFrom('clinics')
      .select(['id', 'protocolId', 'protocolVersion'])
      .where('id', '=', clinicId)
      .$if(lock, (q) => q.forUpdate())
      .executeTakeFirst();
    if (clinic === undefined) throw new AppError('NOT_FOUND', 'No such clinic', { context: { clinicId } });
    // The clinic runs this protocol as its own protocolId, or for the protocol's kind (clinic_kinds).
    const slot =
      clinic.protocolId === protocol.id
        ? { table: 'clinics' as const, protocolVersion: clinic.protocolVersion }
        : await trx
            .selectFrom('clinic_kinds')
            .select(['protocolVersion'])
            .where('clinicId', '=', clinicId)
            .where('kind', '=', protocol.kind)
            .where('protocolId', '=', protocol.id)
            .$if(lock, (q) => q.forUpdate())
            .executeTakeFirst()
            .then((row) => row && { table: 'clinic_kinds' as const, protocolVersion: row.protocolVersion });
    if (slot === undefined) {
      throw new AppError('CONFLICT', 'The clinic runs another protocol', {
        context: { clinicId, protocolId: protocol.id },
      });
    }
    const now = nowIso();
    let published = target;
    if (target.status === 'draft') {
      const row = await trx
        .updateTable('protocol_versions')
        .set({ status: 'published', publishedAt: now, publishedBy: by, ...(p.note !== undefined && { note: p.note }) })
        .where('protocolId', '=', protocol.id)
        .where('version', '=', target.version)
        .returningAll()
        .executeTakeFirstOrThrow();
      published = ProtocolVersionSchema.parse(row);
    }
    const previousVersion = slot.protocolVersion;
    if (previousVersion === target.version && target.status !== 'draft') {
      return { published, previousVersion: null, clinicId, changed: false };
    }
    if (slot.table === 'clinics') {
      await trx
        .updateTable('clinics')
        .set({ protocolVersion: target.version, updatedAt: now })
        .where('id', '=', clinicId)
        .execute();
    } else {
      await trx
        .updateTable('clinic_kinds')
        .set({ protocolVersion: target.version, updatedAt: now })
        .where('clinicId', '=', clinicId)
        .where('kind', '=', protocol.kind)
        .execute();
      await trx.updateTable('clinics').set({ updatedAt: now }).where('id', '=', clinicId).execute();
    }
    await insertAudit(trx, {
      at: now,
      actorType: 'user',
      actorId: by,
      actorRole: p.role,
      requestId: p.requestId,
      action,
      clinicId,
      protocolId: protocol.id,
      protocolVersion: target.version,
      detail: {
        ...detail,
        scope: 'clinic',
        previousClinicVersion: previousVersion,
        ...(p.tokenId ? { tokenId: p.tokenId } : {}),
      },
    });
    return { published, previousVersion, clinicId, changed: true };
  }

  return {
    async create(input, audit) {
      const p = parseInput(CreateProtocolSchema, input, 'protocol');
      const row = await mapDbErrors('protocol', () =>
        kysely.transaction().execute(async (trx) => {
          const inserted = await trx
            .insertInto('protocols')
            .values({
              id: p.id,
              title: p.title,
              ...(p.kind !== undefined && { kind: p.kind }),
              publishedVersion: null,
              latestVersion: 0,
              createdAt: nowIso(),
            })
            .returningAll()
            .executeTakeFirstOrThrow();
          if (audit) await insertAudit(trx, audit);
          return inserted;
        }),
      );
      return ProtocolSchema.parse(row);
    },

    async get(id) {
      const row = await kysely.selectFrom('protocols').selectAll().where('id', '=', id).executeTakeFirst();
      return row === undefined ? null : ProtocolSchema.parse(row);
    },

    async list() {
      const rows = await kysely.selectFrom('protocols').selectAll().orderBy('id').execute();
      return rows.map((r) => ProtocolSchema.parse(r));
    },

    async createDraft(input) {
      const d = parseInput(DraftSchema, input, 'protocol draft');
      return kysely.transaction().execute(async (trx) => {
        // The UPDATE takes the protocol's row lock (PostgreSQL) or the write lock (SQLite): concurrent drafts queue.
        const bumped = await trx
          .updateTable('protocols')
          .set((eb) => ({ latestVersion: eb('latestVersion', '+', 1) }))
          .where('id', '=', d.protocolId)
          .returning('latestVersion')
          .executeTakeFirst();
        if (bumped === undefined) {
          throw new AppError('NOT_FOUND', 'Protocol not found', { context: { protocolId: d.protocolId } });
        }
        const now = nowIso();
        const row = await trx
          .insertInto('protocol_versions')
          .values({
            protocolId: d.protocolId,
            version: bumped.latestVersion,
            status: 'draft',
            definition: toJsonText(d.definition),
            note: d.note,
            createdBy: d.by,
            createdAt: now,
            updatedAt: now,
            publishedAt: null,
            publishedBy: null,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        await insertAudit(trx, {
          at: now,
          actorType: 'user',
          actorId: d.by,
          actorRole: d.role,
          requestId: d.requestId,
          action: 'protocol.draft_created',
          protocolId: d.protocolId,
          protocolVersion: bumped.latestVersion,
        });
        return ProtocolVersionSchema.parse(row);
      });
    },

    async updateDraft(input, audit) {
      const d = parseInput(UpdateDraftSchema, input, 'protocol draft');
      return kysely.transaction().execute(async (trx) => {
        const before = audit ? await readVersion(trx, d.protocolId, d.version) : undefined;
        const row = await trx
          .updateTable('protocol_versions')
          .set({ definition: toJsonText(d.definition), note: d.note, updatedAt: nowIso() })
          .where('protocolId', '=', d.protocolId)
          .where('version', '=', d.version)
          .where('status', '=', 'draft') // the guard and the write are one statement: no window for a publish
          .returningAll()
          .executeTakeFirst();
        if (row !== undefined) {
          const after = ProtocolVersionSchema.parse(row);
          if (audit && before) await insertAudit(trx, audit(before, after));
          return after;
        }
        const existing = await readVersion(trx, d.protocolId, d.version); // NOT_FOUND if absent
        throw new AppError('CONFLICT', `Protocol version is ${existing.status}; only drafts can change`, {
          context: { protocolId: d.protocolId, version: d.version },
        });
      });
    },

    async publish(input) {
      const p = parseInput(PointerSchema, input, 'publish request');
      return kysely.transaction().execute(async (trx) => {
        const protocol = await lockProtocol(trx, p.protocolId);
        const target = await readVersion(trx, p.protocolId, p.version);
        if (p.clinicId !== undefined) {
          return assignToClinic(trx, protocol, target, p, p.clinicId, 'protocol.published');
        }
        if (protocol.publishedVersion === target.version) {
          return { published: target, previousVersion: null, clinicId: null, changed: false };
        }
        if (target.status !== 'draft') {
          throw new AppError('CONFLICT', 'Only a draft can be published; use rollback for an earlier version', {
            context: { protocolId: p.protocolId, version: p.version },
          });
        }
        return repoint(trx, protocol, target, p, 'protocol.published');
      });
    },

    async rollback(input) {
      const p = parseInput(
        PointerSchema,
        {
          protocolId: input.protocolId,
          version: input.toVersion,
          by: input.by,
          clinicId: input.clinicId,
          note: input.note,
          role: input.role,
          requestId: input.requestId,
          tokenId: input.tokenId,
        },
        'rollback',
      );
      return kysely.transaction().execute(async (trx) => {
        const protocol = await lockProtocol(trx, p.protocolId);
        const source = await readVersion(trx, p.protocolId, p.version);
        if (source.status === 'draft') {
          throw new AppError('CONFLICT', 'Rollback targets a previously published version', {
            context: { protocolId: p.protocolId, version: p.version },
          });
        }
        // The new version N+1 carries the earlier content; the document's own `version` follows its new number.
        const version = protocol.latestVersion + 1;
        await trx.updateTable('protocols').set({ latestVersion: version }).where('id', '=', protocol.id).execute();
        const now = nowIso();
        const definition = restamp(source.definition, version);
        const row = await trx
          .insertInto('protocol_versions')
          .values({
            protocolId: protocol.id,
            version,
            status: 'draft',
            definition: toJsonText(definition),
            note: p.note === undefined ? `Rollback of v${source.version}` : `Rollback of v${source.version}: ${p.note}`,
            createdBy: p.by,
            createdAt: now,
            updatedAt: now,
            publishedAt: null,
            publishedBy: null,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        const target = ProtocolVersionSchema.parse(row);
        const detail = { rollbackOf: source.version };
        const { note: _noted, ...pointer } = p; // already in the new version's note
        return p.clinicId !== undefined
          ? assignToClinic(trx, protocol, target, pointer, p.clinicId, 'protocol.rolled_back', detail)
          : repoint(trx, protocol, target, pointer, 'protocol.rolled_back', detail);
      });
    },

    async getVersion(protocolId, version) {
      const row = await kysely
        .selectFrom('protocol_versions')
        .selectAll()
        .where('protocolId', '=', protocolId)
        .where('version', '=', version)
        .executeTakeFirst();
      return row === undefined ? null : ProtocolVersionSchema.parse(row);
    },

    async getPublished(protocolId) {
      const row = await kysely
        .selectFrom('protocol_versions')
        .innerJoin('protocols', (j) =>
          j
            .onRef('protocols.id', '=', 'protocol_versions.protocolId')
            .onRef('protocols.publishedVersion', '=', 'protocol_versions.version'),
        )
        .selectAll('protocol_versions')
        .where('protocols.id', '=', protocolId)
        .executeTakeFirst();
      return row === undefined ? null : ProtocolVersionSchema.parse(row);
    },

    async listVersions(protocolId) {
      const rows = await kysely
        .selectFrom('protocol_versions')
        .selectAll()
        .where('protocolId', '=', protocolId)
        .orderBy('version', 'desc')
        .execute();
      return rows.map((r) => ProtocolVersionSchema.parse(r));
    },
  };
}

/** A copied definition carries its new version number (documents are stamped with their own `version`). */
function restamp(definition: unknown, version: number): unknown {
  return typeof definition === 'object' && definition !== null && !Array.isArray(definition) && 'version' in definition
    ? { ...definition, version }
    : definition;
}
