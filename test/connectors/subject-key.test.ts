// Subject keys: the opaque per-patient part of a care gap's workflow id.
import { createHmac, hkdfSync } from 'node:crypto';
import { expect, test } from 'vitest';
import { subjectKey, subjectKeyer } from '../../connectors/subject-key.ts';
import { careGapCaseId } from '../../activities/kinds/care-gap/triggers.ts';

const KEY = Buffer.alloc(32, 7).toString('base64');

test('is the first 32 hex of HMAC-SHA256 under the HKDF-derived key, stable, and per clinic and patient', () => {
  const k = Buffer.from(
    hkdfSync('sha256', Buffer.from(KEY, 'base64'), Buffer.alloc(0), 'ehr-autopilot subject ids', 32),
  );
  const expected = createHmac('sha256', k).update('north\npat-123').digest('hex').slice(0, 32);
  expect(subjectKey({ PAYLOAD_KEY: KEY }, 'north', 'pat-123')).toBe(expected);
  const keyer = subjectKeyer({ PAYLOAD_KEY: KEY });
  expect(keyer('north', 'pat-123')).toBe(expected);
  expect(keyer('south', 'pat-123')).not.toBe(expected);
  expect(keyer('north', 'pat-124')).not.toBe(expected);
  // Another deployment's key gives other ids.
  expect(subjectKey({ PAYLOAD_KEY: Buffer.alloc(32, 8).toString('base64') }, 'north', 'pat-123')).not.toBe(expected);
});

test('the case id carries the key, never the patient id', () => {
  const id = careGapCaseId('north', 'crc-screening-2021', subjectKey({ PAYLOAD_KEY: KEY }, 'north', 'pat-123'));
  expect(id).toMatch(/^cg_north_crc-screening-2021_[0-9a-f]{32}$/);
  expect(id).not.toContain('pat-123');
});

test('refuses to run without PAYLOAD_KEY', () => {
  expect(() => subjectKeyer({ PAYLOAD_KEY: undefined })).toThrow(/PAYLOAD_KEY/);
});
