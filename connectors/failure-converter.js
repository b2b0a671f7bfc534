// Plain ESM JavaScript on purpose: the Temporal SDK loads this file twice, with Node's require() in the client and
// worker (Node >= 20.19 can require ESM; it cannot require .ts) and with webpack into the workflow sandbox.
// Failure messages and stack traces move into `encodedAttributes`, a payload, so the payload codec encrypts them.
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
