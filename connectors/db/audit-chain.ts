// The audit log's hash chain (issue 10 §3): each row carries the hash of the previous row of its clinic (`prevHash`)
// and its own hash over that link and its fields (`hash`), so a row changed, removed or slipped in afterwards breaks
// the chain where it happened. Rows without a clinic form one chain of their own.
//
// The serialisation below is part of what is stored: migration 0014 hashed the rows that existed then with it, and
// `autopilot audit verify` checks every row against it. Never change it; a new format needs a new version tag.
import { createHash } from 'node:crypto';

const VERSION = 'ehr-autopilot/audit/v1';

/** The fields a row's hash covers, as stored (`detail` is the stored JSON text, byte for byte). */
export interface ChainedFields {
  at: string;
  actorType: string;
  actorId: string;
  actorRole: string | null;
  action: string;
  clinicId: string | null;
  caseId: string | null;
  protocolId: string | null;
  protocolVersion: number | null;
  requestId: string | null;
  idempotencyKey: string | null;
  detail: string;
}

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/** The `prevHash` of a chain's first row: a hash of the chain's clinic, so a first row cannot move to another chain. */
export function genesisHash(clinicId: string | null): string {
  return sha256(JSON.stringify([`${VERSION}/genesis`, clinicId]));
}

/**
 * A row's hash: SHA-256 (hex) of the JSON array of the version tag, the previous row's hash and the row's fields in a
 * fixed order. JSON of strings, integers and nulls has one spelling, so the same row always hashes the same.
 */
export function rowHash(prevHash: string, row: ChainedFields): string {
  return sha256(
    JSON.stringify([
      VERSION,
      prevHash,
      row.at,
      row.actorType,
      row.actorId,
      row.actorRole,
      row.action,
      row.clinicId,
      row.caseId,
      row.protocolId,
      row.protocolVersion,
      row.requestId,
      row.idempotencyKey,
      row.detail,
    ]),
  );
}

/** A stored row as the chain sees it. */
export interface ChainRow extends ChainedFields {
  id: number;
  prevHash: string | null;
  hash: string | null;
}

/**
 * Where a chain breaks: `link` when the row's `prevHash` is not the previous row's hash (a row before it was removed,
 * or this one was inserted or moved), `content` when its own fields no longer give its hash (it was altered).
 */
export interface ChainBreak {
  id: number;
  clinicId: string | null;
  kind: 'link' | 'content';
  expected: string;
  found: string | null;
}

/** One chain's state while rows are checked in id order: its last good hash, or its first break. */
export interface ChainState {
  clinicId: string | null;
  rows: number;
  head: { id: number; hash: string } | null;
  broken: ChainBreak | null;
}

/**
 * Checks the next row of a chain (rows in id order). After the first break the chain is not checked further: one
 * broken link makes every later hash unverifiable, and the first is the one to look at.
 */
export function checkRow(chain: ChainState, row: ChainRow): void {
  if (chain.broken) return;
  chain.rows++;
  const expectedPrev = chain.head?.hash ?? genesisHash(chain.clinicId);
  if (row.prevHash !== expectedPrev) {
    chain.broken = { id: row.id, clinicId: row.clinicId, kind: 'link', expected: expectedPrev, found: row.prevHash };
    return;
  }
  const expected = rowHash(expectedPrev, row);
  if (row.hash !== expected) {
    chain.broken = { id: row.id, clinicId: row.clinicId, kind: 'content', expected, found: row.hash };
    return;
  }
  chain.head = { id: row.id, hash: expected };
}
