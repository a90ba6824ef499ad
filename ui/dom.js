// DOM helpers for the run pages. Every text goes in with textContent (never innerHTML): sampled
// completions are untrusted model output, and run data is never markup.

/**
 * Creates an element: `attrs` are set as attributes (class, href, data-*), `children` are nodes
 * or strings (strings become text nodes).
 * @param {string} tag
 * @param {Record<string, string | number | boolean | null | undefined>} [attrs]
 * @param {Array<Node | string | number | null | undefined>} [children]
 * @returns {HTMLElement}
 */
export function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
  }
  return node;
}

/** Replaces the children of `node` with `children` (same rules as el). */
export function fill(node, children) {
  node.replaceChildren(...children.filter((c) => c !== null && c !== undefined).map((c) => (typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c)));
}

/** Sets the text of the element with id `id`. */
export function setText(id, text) {
  const node = document.getElementById(id);
  if (node) node.textContent = text;
}

/** A number for people: up to 4 significant digits, or a dash for none. */
export function num(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return '–';
  if (!Number.isFinite(x)) return String(x);
  const abs = Math.abs(x);
  if (abs !== 0 && (abs >= 1e5 || abs < 1e-3)) return x.toExponential(2);
  return String(Number(x.toPrecision(4)));
}

/** A duration in ms as h:mm:ss / m:ss. */
export function duration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return '–';
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}
