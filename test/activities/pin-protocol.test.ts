// pinProtocol: a new case gets the clinic's assigned version when it has one, else the protocol's live version; an
// assignment that is not a published version is refused (NOT_FOUND, not retried) rather than silently ignored.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { pinProtocol } from '../../activities/kinds/refill/triage.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { AppError } from '../../rules/index.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

let testDb: TestDatabase;
let store: Store;
beforeAll(async () => {
  testDb = await openTestDatabase('sqlite');
  store = createStore(testDb.db);
  await store.protocols.create({ id: 'p', title: 'P' });
  for (const n of [1, 2, 3]) await store.protocols.createDraft({ protocolId: 'p', definition: { n }, by: 'a' });
  await store.protocols.publish({ protocolId: 'p', version: 1, by: 'a' });
  await store.clinics.upsert({
    id: 'c',
    name: 'C',
    webhookSecret: 'pin-protocol-secret-0123456789',
    fhirBaseUrl: 'http://127.0.0.1:9/fhir',
    fhirClientId: 'x',
    protocolId: 'p',
    refillAutomationEnabled: true,
    nurseSlaSeconds: 60,
    timezone: 'UTC',
  });
});
afterAll(async () => {
  await testDb?.cleanup();
});

test('live version, then the clinic’s assigned version, then live again', async () => {
  expect(await pinProtocol({ store }, { clinicId: 'c' })).toEqual({ id: 'p', version: 1 });
  await store.protocols.publish({ protocolId: 'p', version: 2, by: 'a', clinicId: 'c' });
  expect(await pinProtocol({ store }, { clinicId: 'c' })).toEqual({ id: 'p', version: 2 });
  await store.clinics.updateSettings('c', { protocolVersion: null });
  expect(await pinProtocol({ store }, { clinicId: 'c' })).toEqual({ id: 'p', version: 1 });
});

test('an assigned draft or missing version is NOT_FOUND; so is an unknown clinic', async () => {
  for (const version of [3, 99]) {
    await store.clinics.updateSettings('c', { protocolVersion: version });
    const err = await pinProtocol({ store }, { clinicId: 'c' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('NOT_FOUND');
  }
  await store.clinics.updateSettings('c', { protocolVersion: null });
  await expect(pinProtocol({ store }, { clinicId: 'nope' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
});
