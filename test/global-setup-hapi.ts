// One HAPI FHIR JPA server (the peer of `npm run test:peer`) for the whole run: built once with Maven, started here,
// stopped at the end. Its start-up time and memory are printed, as the issue asks them measured.
import type { TestProject } from 'vitest/node';
import { startHapiPeer } from '../scripts/peer-hapi.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `http://127.0.0.1:<port>/fhir` of the run's HAPI FHIR server. */
    hapiBaseUrl: string;
  }
}

export async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  // A HAPI already running (`npx tsx scripts/peer-hapi.ts` prints its URL): reuse it, to iterate on the suite.
  const running = process.env.HAPI_PEER_URL;
  if (running) {
    console.log(`[peer] HAPI FHIR at ${running} (HAPI_PEER_URL: started elsewhere, not measured here)`);
    project.provide('hapiBaseUrl', running.replace(/\/+$/, ''));
    return undefined;
  }
  const started = Date.now();
  const hapi = await startHapiPeer({ onOutput: (line) => console.error(`[hapi] ${line}`) });
  const backstop = (): void => hapi.killNow();
  process.once('exit', backstop);
  console.log(
    `[peer] HAPI FHIR 8.8.0 at ${hapi.baseUrl}: JVM up in ${hapi.startupMs} ms (${Date.now() - started} ms with the ` +
      `build check), ${hapi.rssMiB() ?? '?'} MiB RSS`,
  );
  project.provide('hapiBaseUrl', hapi.baseUrl);
  return async () => {
    console.log(`[peer] HAPI RSS at the end: ${hapi.rssMiB() ?? '?'} MiB`);
    process.removeListener('exit', backstop);
    await hapi.stop();
  };
}
