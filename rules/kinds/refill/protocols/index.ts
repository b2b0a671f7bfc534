// Built-in protocols: data, versioned, reviewed like code. Node side only (not for workflows/: they take types only).
import familyMedicine2015 from './family-medicine-2015.json' with { type: 'json' };
import standardChronicCare from './standard-chronic-care.json' with { type: 'json' };
import { parseProtocol, type ProtocolDefinition } from '../protocol.ts';

/** Every built-in protocol version, parsed (and so validated) at import: a broken seed fails at start, not mid-case. */
export const BUILTIN_PROTOCOLS: readonly ProtocolDefinition[] = [
  parseProtocol(familyMedicine2015),
  parseProtocol(standardChronicCare),
];

/**
 * A built-in protocol by id: the given version, or the latest.
 *
 * @returns `undefined` when no such protocol (or version) is built in.
 */
export function findBuiltinProtocol(id: string, version?: number): ProtocolDefinition | undefined {
  return BUILTIN_PROTOCOLS.filter((p) => p.id === id && (version === undefined || p.version === version)).sort(
    (a, b) => b.version - a.version,
  )[0];
}
