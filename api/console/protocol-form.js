// @ts-check
// The protocol editor's form, kind-neutral: what a kind's form description is made of (sections of groups of fields,
// each field a JSON path into the protocol document, as the server's validation issues name them), reading and
// writing a document at such a path, and the leaves of a condition tree. Each kind describes its own form
// (./kinds/<kind>.js `protocolForm`); protocols.js draws it.

/**
 * One editable value of the document.
 * - `number`: a number (empty: null, which the validation then names);
 * - `text` / `textarea`: a string (`nullable`: empty is null);
 * - `list`: an array of strings, typed comma-separated.
 * @typedef {object} FormField
 * @property {string} path JSON path of the value, e.g. `$.categories[0].criteria[0].when.all[0].value`
 * @property {string} label
 * @property {'number' | 'text' | 'textarea' | 'list'} type
 * @property {string} [tag] what kind of edit it is: Window, Threshold, Covers, Route, Supply, Text
 * @property {boolean} [nullable]
 * @property {string} [hint]
 */

/**
 * The fields of one item of the document (a category, a route, a clause…); `path` is the item's own path, where a
 * problem with the item as a whole is shown.
 * @typedef {{ title: string, path: string, fields: FormField[] }} FormGroup
 */

/** @typedef {{ title: string, groups: FormGroup[] }} FormSection */

/**
 * A leaf of a condition tree (`all` / `any` / `not`), with its JSON path.
 * @typedef {{ path: string, fact: string, factPath: string, operator: string, value: unknown }} ConditionLeaf
 */

/** Operators that compare a date with a window ending today (months or days). */
const WINDOW_TEXT = /** @type {Record<string, string>} */ ({
  withinMonths: 'within the last … months',
  withinDays: 'within the last … days',
  beforeMonthsAgo: 'more than … months ago',
  beforeDaysAgo: 'more than … days ago',
  onOrBeforeMonthsAgo: '… months ago or earlier',
  onOrBeforeDaysAgo: '… days ago or earlier',
});

const COMPARE_TEXT = /** @type {Record<string, string>} */ ({
  lessThan: 'below',
  lessThanInclusive: 'at most',
  greaterThan: 'above',
  greaterThanInclusive: 'at least',
  equal: 'equal to',
  notEqual: 'not equal to',
});

const LIST_TEXT = /** @type {Record<string, string>} */ ({
  contains: 'includes',
  containsAny: 'includes any of',
  doesNotContain: 'does not include',
  in: 'is one of',
  notIn: 'is none of',
});

/** Every leaf of a condition tree, depth first. @param {unknown} when @param {string} path @returns {ConditionLeaf[]} */
function conditionLeaves(when, path) {
  if (!when || typeof when !== 'object') return [];
  const w = /** @type {Record<string, unknown>} */ (when);
  /** @type {ConditionLeaf[]} */
  const out = [];
  for (const key of ['all', 'any']) {
    const list = w[key];
    if (Array.isArray(list)) list.forEach((c, i) => out.push(...conditionLeaves(c, `${path}.${key}[${i}]`)));
  }
  if (w.not) out.push(...conditionLeaves(w.not, `${path}.not`));
  if (typeof w.fact === 'string' && typeof w.operator === 'string') {
    out.push({
      path,
      fact: w.fact,
      factPath: typeof w.path === 'string' ? w.path : '$',
      operator: w.operator,
      value: w.value,
    });
  }
  return out;
}

/** `visits.lastPcpRov.date`. @param {ConditionLeaf} l */
const factName = (l) => `${l.fact}${l.factPath === '$' ? '' : l.factPath.slice(1)}`;

/**
 * The form field of a leaf whose value a person edits (a number of months, a threshold, a list of codes), or null
 * for a leaf that only tests presence or compares two facts. `who` names the criterion or clause it belongs to.
 * @param {ConditionLeaf} l @param {string} who
 * @returns {FormField | null}
 */
function leafField(l, who) {
  const prefix = who ? `${who}: ` : '';
  const at = `${l.path}.value`;
  if (typeof l.value === 'number') {
    if (WINDOW_TEXT[l.operator]) {
      return { path: at, type: 'number', tag: 'Window', label: `${prefix}${factName(l)} ${WINDOW_TEXT[l.operator]}` };
    }
    if (COMPARE_TEXT[l.operator]) {
      return {
        path: at,
        type: 'number',
        tag: 'Threshold',
        label: `${prefix}${factName(l)} ${COMPARE_TEXT[l.operator]} …`,
      };
    }
  }
  if (Array.isArray(l.value) && l.value.every((v) => typeof v === 'string')) {
    return {
      path: at,
      type: 'list',
      tag: 'Covers',
      label: `${prefix}${factName(l)} ${LIST_TEXT[l.operator] ?? l.operator}`,
      hint: 'Comma-separated',
    };
  }
  if (typeof l.value === 'string' && (LIST_TEXT[l.operator] || COMPARE_TEXT[l.operator])) {
    return {
      path: at,
      type: 'text',
      tag: LIST_TEXT[l.operator] ? 'Covers' : 'Value',
      label: `${prefix}${factName(l)} ${LIST_TEXT[l.operator] ?? COMPARE_TEXT[l.operator] ?? l.operator}`,
    };
  }
  return null;
}

/** The editable leaves of a condition tree as fields. @param {unknown} when @param {string} path @param {string} who */
export function conditionFields(when, path, who) {
  return conditionLeaves(when, path)
    .map((l) => leafField(l, who))
    .filter((f) => f !== null);
}

/**
 * A JSON path (`$.a[0].b`) as its keys. Only the paths this console and the server write: dotted names and indexes.
 * @param {string} path @returns {(string | number)[]}
 */
export function parsePath(path) {
  /** @type {(string | number)[]} */
  const keys = [];
  const re = /\.([^.[\]]+)|\[(\d+)\]/g;
  let m;
  while ((m = re.exec(path)) !== null) keys.push(m[1] !== undefined ? m[1] : Number(m[2]));
  return keys;
}

/** The value at a path, or undefined. @param {unknown} doc @param {string} path */
export function getAt(doc, path) {
  /** @type {any} */
  let v = doc;
  for (const k of parsePath(path)) {
    if (v === null || typeof v !== 'object') return undefined;
    v = v[k];
  }
  return v;
}

/**
 * Sets the value at a path of an existing document (the containers must exist: the form only edits what is there).
 * @param {unknown} doc @param {string} path @param {unknown} value
 */
export function setAt(doc, path, value) {
  const keys = parsePath(path);
  const last = keys.pop();
  /** @type {any} */
  let v = doc;
  for (const k of keys) {
    if (v === null || typeof v !== 'object') return;
    v = v[k];
  }
  if (v !== null && typeof v === 'object' && last !== undefined) v[last] = value;
}

/**
 * A text field for a string property, if the item has it.
 * @param {any} item @param {string} path @param {string} key @param {string} label
 * @param {'text' | 'textarea'} [type] @param {string} [tag] @returns {FormField[]}
 */
export function textField(item, path, key, label, type = 'text', tag = 'Text') {
  return item && typeof item[key] === 'string' ? [{ path: `${path}.${key}`, label, type, tag }] : [];
}

/** A number field for a numeric property, if the item has it. @param {any} item @param {string} path @param {string} key @param {string} label @param {string} tag @returns {FormField[]} */
export function numberField(item, path, key, label, tag) {
  return item && typeof item[key] === 'number' ? [{ path: `${path}.${key}`, label, type: 'number', tag }] : [];
}
