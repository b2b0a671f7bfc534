// The SMART App Launch store (migration 0017) on both dialects: a clinic's client found by its EHR's FHIR base with or
// without a trailing slash; fhirUser mappings replaced in place; launches and hand-offs taken once, never after expiry,
// and only by the secret they were stored under (only its hash is kept).
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const postgresUrl = inject('postgresUrl');
const dialects = [
  { dialect: 'sqlite' as const, adminUrl: undefined, skip: false },
  { dialect: 'postgres' as const, adminUrl: postgresUrl, skip: postgresUrl === undefined },
];
const BASE = 'https://ehr.example.org/fhir/R4';

describe.each(dialects)('SMART store on $dialect', ({ dialect, adminUrl, skip }) => {
  describe.skipIf(skip)(dialect, () => {
    let t: TestDatabase;
    let store: Store;
    beforeAll(async () => {
      t = await openTestDatabase(dialect, adminUrl);
      store = createStore(t.db);
      await store.clinics.create({
        id: 'north',
        name: 'North',
        webhookSecret: 'whsec_0123456789abcdef',
        fhirBaseUrl: `${BASE}/`,
        fhirClientId: 'backend',
        protocolId: 'family-medicine-2015',
        nurseSlaSeconds: 3600,
        timezone: 'UTC',
      });
    });
    afterAll(async () => {
      await t?.cleanup();
    });

    test('clients and user mappings', async () => {
      expect(await store.smart.clientsForIss(BASE)).toEqual([]);
      await store.smart.putClient('north', 'app-1');
      await store.smart.putClient('north', 'app-2');
      expect(await store.smart.clientsForIss(BASE)).toMatchObject([{ clinicId: 'north', clientId: 'app-2' }]);
      expect(await store.smart.clientsForIss(`${BASE}/`)).toHaveLength(1);
      expect(await store.smart.clientsForIss('https://ehr.example.org/fhir')).toEqual([]);
      await expect(store.smart.putClient('north', 'has space')).rejects.toMatchObject({ code: 'INVALID_INPUT' });

      await store.smart.putUser({ clinicId: 'north', fhirUser: 'Practitioner/p1', userId: 'ana', role: 'nurse' });
      await store.smart.putUser({ clinicId: 'north', fhirUser: 'Practitioner/p1', userId: 'ana', role: 'doctor' });
      expect(await store.smart.listUsers('north')).toMatchObject([{ fhirUser: 'Practitioner/p1', role: 'doctor' }]);
      expect(await store.smart.removeUser('north', 'Practitioner/p1')).toBe(true);
      expect(await store.smart.getUser('north', 'Practitioner/p1')).toBeNull();
      expect(await store.smart.removeClient('north')).toBe(true);
      expect(await store.smart.removeClient('north')).toBe(false);
    });

    test('launches and hand-offs: once, by their secret, not after expiry', async () => {
      const soon = new Date(Date.now() + 60_000).toISOString();
      const launch = {
        clinicId: 'north',
        clientId: 'app-2',
        redirectUri: 'https://app.example/smart/callback',
        tokenEndpoint: 'https://ehr.example.org/token',
        codeVerifier: 'v'.repeat(43),
        mode: 'ehr' as const,
        expiresAt: soon,
      };
      await store.smart.createLaunch('state-1', launch);
      await store.smart.createLaunch('state-2', launch);
      expect(await store.smart.takeLaunch('state-3', new Date())).toBeNull();
      expect(await store.smart.takeLaunch('state-1', new Date())).toEqual(launch);
      expect(await store.smart.takeLaunch('state-1', new Date())).toBeNull();
      expect(await store.smart.takeLaunch('state-2', new Date(Date.now() + 120_000))).toBeNull(); // expired
      const rows = await t.db.kysely.selectFrom('smart_launches').select('id').execute();
      expect(rows.map((r) => r.id)).not.toContain('state-2'); // only hashes are kept (and the expired one is gone)

      const handoff = {
        clinicId: 'north',
        userId: 'ana',
        role: 'doctor' as const,
        fhirUser: 'Practitioner/p1',
        patientId: 'pat-1',
        mode: 'standalone' as const,
        expiresAt: soon,
      };
      await store.smart.createHandoff('code-1', handoff);
      const [first, second] = await Promise.all([
        store.smart.takeHandoff('code-1', new Date()),
        store.smart.takeHandoff('code-1', new Date()),
      ]);
      expect([first, second].filter((h) => h !== null)).toEqual([handoff]);
    });
  });
});
