// The app database's security duties on both dialects: webhook secrets are ciphertext at rest and decrypt only for
// their clinic; plaintext left by an older version is sealed at open; an audited change and its audit row commit or
// fail together; tokens have a public id, an expiry and an audited revocation.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { loadConfig } from '../../connectors/config.ts';
import { createStore, openDatabase, type Db, type Store } from '../../connectors/db/index.ts';
import { createSecretBox, type SecretBox } from '../../connectors/secret-box.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const postgresUrl = inject('postgresUrl');
const dialects = [
  { dialect: 'sqlite' as const, adminUrl: undefined, skip: false },
  { dialect: 'postgres' as const, adminUrl: postgresUrl, skip: postgresUrl === undefined },
];

const box: SecretBox = createSecretBox(
  loadConfig({ PAYLOAD_KEY: randomBytes(32).toString('base64'), PAYLOAD_KEY_ID: 'sec-k1' }),
);

const clinic = (id: string, webhookSecret = `whsec_${id}_plaintext_0123456789`) => ({
  id,
  name: `Clinic ${id}`,
  webhookSecret,
  fhirBaseUrl: 'https://ehr.example.org/fhir/R4',
  fhirClientId: 'autopilot',
  protocolId: 'family-medicine-2015',
  nurseSlaSeconds: 3600,
  timezone: 'UTC',
});

const auditOf = (action: string, clinicId: string | null = null) => ({
  actorType: 'user' as const,
  actorId: 'admin-1',
  actorRole: 'admin',
  action,
  clinicId,
  requestId: 'req-1',
});

describe.each(dialects)('database security on $dialect', ({ dialect, adminUrl, skip }) => {
  describe.skipIf(skip)(dialect, () => {
    let t: TestDatabase;
    let sealed: Db;
    let store: Store;
    let plain: Store;
    beforeAll(async () => {
      t = await openTestDatabase(dialect, adminUrl);
      sealed = { ...t.db, secrets: box };
      store = createStore(sealed);
      plain = createStore(t.db);
    });
    afterAll(async () => {
      await t?.cleanup();
    });

    const rawRow = (id: string) =>
      t.db.kysely
        .selectFrom('clinics')
        .select(['webhookSecret', 'previousWebhookSecret'])
        .where('id', '=', id)
        .executeTakeFirstOrThrow();

    test('webhook secrets are ciphertext in the row, read back in clear, and decrypt only for their clinic', async () => {
      const secret = 'whsec_north_plaintext_0123456789';
      const created = await store.clinics.create(clinic('sec-north', secret));
      expect(created.webhookSecret).toBe(secret);
      const row = await rawRow('sec-north');
      expect(row.webhookSecret).toMatch(/^enc:v1:sec-k1:/);
      expect(row.webhookSecret).not.toContain(secret);
      expect((await store.clinics.get('sec-north'))?.webhookSecret).toBe(secret);
      expect(box.decrypt(row.webhookSecret, 'clinic:sec-north:webhookSecret')).toBe(secret);

      // A ciphertext copied into another clinic's row does not open there.
      await store.clinics.create(clinic('sec-south'));
      await t.db.kysely
        .updateTable('clinics')
        .set({ webhookSecret: row.webhookSecret })
        .where('id', '=', 'sec-south')
        .execute();
      await expect(store.clinics.get('sec-south')).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
      // A store without the key never sees the plaintext.
      expect((await plain.clinics.get('sec-north'))?.webhookSecret).toBe(row.webhookSecret);
    });

    test('a rotation keeps both secrets encrypted; the previous one still opens', async () => {
      await store.clinics.create(clinic('sec-rot', 'whsec_rot_first_0123456789'));
      const until = new Date(Date.now() + 3600_000).toISOString();
      const rotated = await store.clinics.rotateWebhookSecret('sec-rot', {
        webhookSecret: 'whsec_rot_second_0123456789',
        previousExpiresAt: until,
      });
      expect(rotated).toMatchObject({
        webhookSecret: 'whsec_rot_second_0123456789',
        previousWebhookSecret: 'whsec_rot_first_0123456789',
      });
      const row = await rawRow('sec-rot');
      expect(row.webhookSecret).toMatch(/^enc:v1:/);
      expect(row.previousWebhookSecret).toMatch(/^enc:v1:/);
      expect(JSON.stringify(row)).not.toContain('whsec_rot_');
      // upsert (the demo seed) encrypts too.
      await store.clinics.upsert(clinic('sec-rot', 'whsec_rot_third_0123456789'));
      expect((await rawRow('sec-rot')).webhookSecret).toMatch(/^enc:v1:/);
    });

    test('plaintext secrets left by an older version are sealed when the database is opened with the key', async () => {
      await plain.clinics.create(clinic('sec-legacy', 'whsec_legacy_current_0123456789'));
      await t.db.kysely
        .updateTable('clinics')
        .set({
          previousWebhookSecret: 'whsec_legacy_previous_0123456789',
          previousWebhookSecretExpiresAt: new Date(Date.now() + 3600_000).toISOString(),
        })
        .where('id', '=', 'sec-legacy')
        .execute();
      const again = await openDatabase({ ...t.options, secrets: box });
      try {
        const row = await rawRow('sec-legacy');
        expect(row.webhookSecret).toMatch(/^enc:v1:/);
        expect(row.previousWebhookSecret).toMatch(/^enc:v1:/);
        expect(JSON.stringify(row)).not.toContain('whsec_legacy');
        expect(await createStore(again).clinics.get('sec-legacy')).toMatchObject({
          webhookSecret: 'whsec_legacy_current_0123456789',
          previousWebhookSecret: 'whsec_legacy_previous_0123456789',
        });
        // Idempotent: opening again changes nothing.
        const before = await rawRow('sec-legacy');
        await (await openDatabase({ ...t.options, secrets: box })).close();
        expect(await rawRow('sec-legacy')).toEqual(before);
      } finally {
        await again.close();
      }
    });

    describe('an audited change and its audit row commit together', () => {
      const count = async (action: string) => (await store.audit.listAudit({ action, limit: 500 })).items.length;

      test('a clinic that cannot be created leaves no audit row; a failing audit leaves no clinic', async () => {
        await store.clinics.create(clinic('tx-1'), auditOf('clinic.created', 'tx-1'));
        expect(await count('clinic.created')).toBe(1);
        await expect(store.clinics.create(clinic('tx-1'), auditOf('clinic.created', 'tx-1'))).rejects.toMatchObject({
          code: 'CONFLICT',
        });
        expect(await count('clinic.created')).toBe(1);
        // An audit entry the log refuses (no action) rolls the clinic back.
        await expect(
          store.clinics.create(clinic('tx-2'), { ...auditOf('clinic.created'), action: '' }),
        ).rejects.toThrow();
        expect(await store.clinics.get('tx-2')).toBeNull();
      });

      test('settings and rotations roll back with a failing audit row', async () => {
        await store.clinics.create(clinic('tx-3'));
        await expect(
          store.clinics.updateSettings('tx-3', { nurseSlaSeconds: 60 }, () => ({ ...auditOf('x'), action: '' })),
        ).rejects.toThrow();
        expect((await store.clinics.get('tx-3'))?.nurseSlaSeconds).toBe(3600);
        const ok = await store.clinics.updateSettings('tx-3', { nurseSlaSeconds: 60 }, (before, after) => ({
          ...auditOf('clinic.settings_changed', 'tx-3'),
          detail: { from: before.nurseSlaSeconds, to: after.nurseSlaSeconds },
        }));
        expect(ok?.nurseSlaSeconds).toBe(60);
        const { items } = await store.audit.listAudit({ clinicId: 'tx-3', action: 'clinic.settings_changed' });
        expect(items.map((e) => e.detail)).toEqual([{ from: 3600, to: 60 }]);

        await expect(
          store.clinics.rotateWebhookSecret(
            'tx-3',
            { webhookSecret: 'whsec_never_applied_0123456789', previousExpiresAt: new Date().toISOString() },
            { ...auditOf('x'), action: '' },
          ),
        ).rejects.toThrow();
        expect((await store.clinics.get('tx-3'))?.webhookSecret).toBe('whsec_tx-3_plaintext_0123456789');
      });

      test('a draft edit that fails writes no audit row; a failing audit row leaves the draft as it was', async () => {
        await store.protocols.create(
          { id: 'tx-p', title: 'T' },
          { ...auditOf('protocol.created'), protocolId: 'tx-p' },
        );
        const draft = await store.protocols.createDraft({ protocolId: 'tx-p', definition: { a: 1 }, by: 'admin-1' });
        const entry = () => ({ ...auditOf('protocol.draft_updated'), protocolId: 'tx-p', protocolVersion: 1 });
        await expect(
          store.protocols.updateDraft({ protocolId: 'tx-p', version: 1, definition: { a: 2 }, by: 'admin-1' }, () => ({
            ...entry(),
            action: '',
          })),
        ).rejects.toThrow();
        expect((await store.protocols.getVersion('tx-p', draft.version))?.definition).toEqual({ a: 1 });
        await store.protocols.publish({ protocolId: 'tx-p', version: 1, by: 'admin-1' });
        await expect(
          store.protocols.updateDraft({ protocolId: 'tx-p', version: 1, definition: { a: 3 }, by: 'admin-1' }, entry),
        ).rejects.toMatchObject({ code: 'CONFLICT' });
        expect(await count('protocol.draft_updated')).toBe(0);
        // A protocol id that is taken: no second protocol.created row.
        await expect(
          store.protocols.create({ id: 'tx-p', title: 'T' }, { ...auditOf('protocol.created'), protocolId: 'tx-p' }),
        ).rejects.toMatchObject({ code: 'CONFLICT' });
        expect(await count('protocol.created')).toBe(1);
      });
    });

    describe('API tokens', () => {
      test('a token has a public id, an owner and an expiry; the list shows neither the token nor its hash', async () => {
        const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
        const { token, record } = await store.tokens.createToken(
          { name: 'Ana', role: 'nurse', userId: 'ana@clinic.example', clinicId: 'sec-north', expiresAt },
          auditOf('token.issued', 'sec-north'),
        );
        expect(record.id).toMatch(/^tok_[A-Za-z0-9_-]{12}$/);
        expect(record).toMatchObject({ expiresAt, userId: 'ana@clinic.example', clinicId: 'sec-north' });
        expect((await store.tokens.findByToken(token))?.id).toBe(record.id);
        const listed = await store.tokens.list({ clinicId: 'sec-north' });
        expect(listed.map((x) => x.id)).toEqual([record.id]);
        const { items } = await store.audit.listAudit({ action: 'token.issued' });
        expect(items[0]?.detail).toEqual({ tokenId: record.id });
        expect(JSON.stringify(items)).not.toContain(token);
        expect(JSON.stringify(items)).not.toContain(record.tokenHash);

        expect(await store.tokens.revoke(record.id, auditOf('token.revoked', 'sec-north'))).toBe(true);
        expect(await store.tokens.revoke(record.id, auditOf('token.revoked', 'sec-north'))).toBe(false);
        expect(await store.tokens.findByToken(token)).toBeNull();
        expect((await store.audit.listAudit({ action: 'token.revoked' })).items).toHaveLength(1);
        expect(await store.tokens.list({ clinicId: 'sec-north' })).toEqual([]);
        expect((await store.tokens.list({ clinicId: 'sec-north', includeRevoked: true }))[0]?.revokedAt).not.toBeNull();
      });

      test('a user id must name a person; use is recorded at most every few minutes', async () => {
        await expect(store.tokens.createToken({ name: 'x', role: 'nurse', userId: 'two words' })).rejects.toMatchObject(
          { code: 'INVALID_INPUT' },
        );
        const { record } = await store.tokens.createToken({ name: 'b', role: 'doctor', userId: 'dr.b' });
        const at = new Date();
        await store.tokens.touch(record, at);
        const once = (await store.tokens.get(record.id))!;
        expect(once.lastUsedAt).toBe(at.toISOString());
        await store.tokens.touch(once, new Date(at.getTime() + 1000));
        expect((await store.tokens.get(record.id))?.lastUsedAt).toBe(at.toISOString());
      });
    });
  });
});
