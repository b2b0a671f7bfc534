// The clinic repository's onboarding methods on both dialects: create never overwrites, settings change only what
// is given, rotation keeps exactly one previous secret, and older callers of upsert keep working.
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const postgresUrl = inject('postgresUrl');
const dialects = [
  { dialect: 'sqlite' as const, adminUrl: undefined, skip: false },
  { dialect: 'postgres' as const, adminUrl: postgresUrl, skip: postgresUrl === undefined },
];

const CLINIC = {
  id: 'clinic-r',
  name: 'Riverside',
  webhookSecret: 'whsec_first_0123456789',
  fhirBaseUrl: 'http://127.0.0.1:3001/fhir/R4',
  fhirClientId: 'autopilot',
  protocolId: 'family-medicine-2015',
  nurseSlaSeconds: 3600,
  timezone: 'UTC',
};

describe.each(dialects)('clinic repository on $dialect', ({ dialect, adminUrl, skip }) => {
  describe.skipIf(skip)(dialect, () => {
    let t: TestDatabase;
    let store: Store;
    beforeAll(async () => {
      t = await openTestDatabase(dialect, adminUrl);
      store = createStore(t.db);
    });
    afterAll(async () => {
      await t?.cleanup();
    });

    test('create refuses an existing id with CONFLICT and leaves the clinic untouched', async () => {
      const c = await store.clinics.create(CLINIC);
      expect(c).toMatchObject({
        previousWebhookSecret: null,
        previousWebhookSecretExpiresAt: null,
        fhirPublicJwk: null,
      });
      await expect(store.clinics.create({ ...CLINIC, name: 'Other' })).rejects.toMatchObject({ code: 'CONFLICT' });
      expect((await store.clinics.get(CLINIC.id))?.name).toBe('Riverside');
    });

    test('updateSettings changes only the given fields; unknown clinic → null', async () => {
      const after = await store.clinics.updateSettings(CLINIC.id, { timezone: 'Europe/Paris' });
      expect(after).toMatchObject({
        timezone: 'Europe/Paris',
        nurseSlaSeconds: 3600,
        protocolId: CLINIC.protocolId,
      });
      expect(await store.clinics.updateSettings('nope', { nurseSlaSeconds: 60 })).toBeNull();
      await expect(store.clinics.updateSettings(CLINIC.id, { nurseSlaSeconds: -1 })).rejects.toMatchObject({
        code: 'INVALID_INPUT',
      });
    });

    test('version is the clinic’s updatedAt, moved by a settings change; unknown clinic → null', async () => {
      const before = await store.clinics.version(CLINIC.id);
      expect(before).toBe((await store.clinics.get(CLINIC.id))?.updatedAt);
      await new Promise((r) => setTimeout(r, 5));
      await store.clinics.updateSettings(CLINIC.id, { nurseSlaSeconds: 1800 });
      const after = await store.clinics.version(CLINIC.id);
      expect(after).not.toBe(before);
      expect(after).toBe((await store.clinics.get(CLINIC.id))?.updatedAt);
      expect(await store.clinics.version('nope')).toBeNull();
      await store.clinics.updateSettings(CLINIC.id, { nurseSlaSeconds: 3600 });
    });

    test('rotation moves the current secret to previous in one step; a second rotation drops the oldest', async () => {
      const until = new Date(Date.now() + 60_000).toISOString();
      const r1 = await store.clinics.rotateWebhookSecret(CLINIC.id, {
        webhookSecret: 'whsec_second_0123456789',
        previousExpiresAt: until,
      });
      expect(r1).toMatchObject({
        webhookSecret: 'whsec_second_0123456789',
        previousWebhookSecret: CLINIC.webhookSecret,
        previousWebhookSecretExpiresAt: until,
      });
      const r2 = await store.clinics.rotateWebhookSecret(CLINIC.id, {
        webhookSecret: 'whsec_third_0123456789',
        previousExpiresAt: until,
      });
      expect(r2).toMatchObject({
        webhookSecret: 'whsec_third_0123456789',
        previousWebhookSecret: 'whsec_second_0123456789',
      });
      expect(
        await store.clinics.rotateWebhookSecret('nope', {
          webhookSecret: 'whsec_x_0123456789abc',
          previousExpiresAt: until,
        }),
      ).toBeNull();
    });

    test('an upsert that does not name the rotation fields keeps them (existing callers)', async () => {
      const before = (await store.clinics.get(CLINIC.id))!;
      const after = await store.clinics.upsert({ ...CLINIC, webhookSecret: 'whsec_third_0123456789' });
      expect(after.previousWebhookSecret).toBe(before.previousWebhookSecret);
      expect(after.previousWebhookSecretExpiresAt).toBe(before.previousWebhookSecretExpiresAt);
    });

    test('the stored private key may be enc:v1 ciphertext or a JWK, nothing else', async () => {
      await expect(
        store.clinics.upsert({ ...CLINIC, fhirPrivateKeyJwk: 'enc:v1:k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }),
      ).resolves.toMatchObject({ fhirPrivateKeyJwk: 'enc:v1:k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
      await expect(store.clinics.upsert({ ...CLINIC, fhirPrivateKeyJwk: 'plain text' })).rejects.toMatchObject({
        code: 'INVALID_INPUT',
      });
    });
  });
});
