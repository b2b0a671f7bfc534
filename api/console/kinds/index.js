// @ts-check
// The console's registry of protocol kinds: how each kind's case is shown and which actions it offers. The one console
// file that names kinds (as rules/kinds/index.ts is for the server); app.js asks `rendererFor(case.kind)`.
import { careGap } from './care-gap.js';
import { refill } from './refill.js';

/**
 * What the console hands a kind's renderer: its element builder and formatters (app.js owns them).
 * @typedef {object} KindUi
 * @property {(tag: string, attrs?: Record<string, any> | null, ...children: any[]) => HTMLElement} h
 * @property {(s: string | undefined) => string} fmtDate
 * @property {(iso: string | null | undefined) => string} fmtDateTime
 * @property {(text: string) => string} poolText
 */

/**
 * Who asks, and what the server says they may do (GET /v1/me, /v1/lifecycle, /v1/kinds).
 * @typedef {object} ActionContext
 * @property {{ userId: string, role: string, clinicId: string | null }} me
 * @property {{ queues: { queue: string, roles: string[], actions: string[] }[], signingDelegates?: string[] } | null} lifecycle
 * @property {{ id: string, actions: { id: string, label: string, roles: string[], queues: string[] }[] }[] | null} kinds
 */

/**
 * How the console renders one kind's case (refill.js, care-gap.js).
 * @typedef {object} KindRenderer
 * @property {string} id
 * @property {string} label
 * @property {Record<string, string>} dispositionText
 * @property {Record<string, string>} [queueText] what this kind's cases in each queue are (the queue's subtitle)
 * @property {Record<string, string>} [eventText] timeline titles of this kind's own events (else the console's)
 * @property {(c: any, ui: KindUi) => any} queueCell the first column of a queue row: what the case is about
 * @property {(c: any, ui: KindUi) => any} findingsCell the last-but-one column: what did not pass
 * @property {(c: any, ui: KindUi) => { title: string, lede: string }} headline the case's title once it is triaged
 * @property {(c: any) => string} pageTitle
 * @property {(c: any, ui: KindUi) => HTMLElement} evidence the main card: criteria or clauses, each with evidence
 * @property {(c: any, ui: KindUi) => [string, any][]} details rows of the details card
 * @property {(c: any, ctx: ActionContext) => { actions: string[], why: string }} offered actions for a queued case
 * @property {(a: string, c: any) => string} actionLabel
 * @property {(a: string, c: any) => string} actionDescription
 * @property {(a: string) => string} buttonClass
 * @property {(a: string, ui: KindUi) => HTMLElement[]} actionFields extra inputs the confirm dialog shows
 * @property {(c: any, a: string, opts: { requestId: string, note: string, form: HTMLElement }) =>
 *   { path: string, body: Record<string, unknown> } | { error: string }} request what the action sends
 * @property {(definition: any) => import('../protocol-form.js').FormSection[]} [protocolForm] the protocol editor's
 *   structured form for a document of this kind (protocols.js; the raw JSON view covers the rest)
 */

/** Every kind's renderer, in the kind registry's order. @type {readonly KindRenderer[]} */
export const RENDERERS = [refill, careGap];

/** @type {Record<string, KindRenderer>} */
const BY_KIND = Object.fromEntries(RENDERERS.map((r) => [r.id, r]));

/** The kind of a case without `kind` (every case before kinds). */
const DEFAULT_RENDERER = refill;

/** @param {string | null | undefined} kind @returns {KindRenderer} */
export function rendererFor(kind) {
  return (kind && BY_KIND[kind]) || DEFAULT_RENDERER;
}

/** Every kind's renderer by its id, for a protocol's kind (GET /v1/protocols), or undefined for a kind not known here. */
export function kindRendererOf(/** @type {string} */ kind) {
  return BY_KIND[kind];
}
