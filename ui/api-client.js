// The run pages' link to the API: the key (asked once, kept in this tab's sessionStorage, never in
// a URL), JSON calls with `Authorization: Bearer`, and the run event stream read with fetch() and a
// ReadableStream (EventSource cannot send the header; api/README.md "Watching a run").

const KEY_STORAGE = 'rlhf-api-key';

export function storedKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY_STORAGE);
}

/**
 * Shows the key form (#key-form) until a key is entered, keeps it for the tab and resolves with it.
 * `why` says why it is asked (first visit, or the API refused the stored key).
 * @returns {Promise<string>}
 */
export function askForKey(why) {
  const form = /** @type {HTMLFormElement} */ (document.getElementById('key-form'));
  const input = /** @type {HTMLInputElement} */ (document.getElementById('key-input'));
  document.getElementById('key-why').textContent = why;
  form.hidden = false;
  input.focus();
  return new Promise((resolve) => {
    form.addEventListener('submit', function onSubmit(event) {
      event.preventDefault();
      const key = input.value.trim();
      if (!key) return;
      sessionStorage.setItem(KEY_STORAGE, key);
      input.value = '';
      form.hidden = true;
      form.removeEventListener('submit', onSubmit);
      resolve(key);
    });
  });
}

/** An API answer other than 2xx: its status and the `{error, message, field?}` body. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body && typeof body.message === 'string' ? body.message : `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
  }
}

/**
 * Calls an /api route with the key; resolves with the JSON body, or throws ApiError.
 * @param {string} key
 * @param {string} path
 * @param {{method?: string, body?: unknown}} [opts]
 */
export async function api(key, path, opts = {}) {
  const headers = { authorization: `Bearer ${key}`, accept: 'application/json' };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method: opts.method ?? 'GET', headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

/**
 * Reads GET /api/runs/:runId/events after event `lastId` until the stream ends or drops, calling
 * `onEvent` for each event. Resolves with the last id seen and whether the run's `end` arrived;
 * the caller reconnects with that id (the server resumes after it: nothing missed or repeated).
 */
export async function followEvents(key, runId, lastId, onEvent, signal) {
  const res = await fetch(`/api/runs/${encodeURIComponent(runId)}/events`, {
    headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream', 'last-event-id': String(lastId) },
    signal,
  });
  if (!res.ok || !res.body) throw new ApiError(res.status, await res.json().catch(() => null));
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return { lastId, ended: false };
    buffer += value;
    const blocks = buffer.split('\n\n');
    buffer = blocks.pop() ?? '';
    for (const block of blocks) {
      const data = block.split('\n').find((line) => line.startsWith('data: '));
      if (!data) continue; // `retry:` or a `: heartbeat` comment
      const event = JSON.parse(data.slice(6));
      lastId = event.id;
      onEvent(event);
      if (event.kind === 'end') {
        await reader.cancel().catch(() => undefined);
        return { lastId, ended: true };
      }
    }
  }
}
