// The run list (/ui/runs): the key's project's runs, newest first (GET /api/runs), each linking to
// its run page; "More" follows nextCursor.
import { api, ApiError, askForKey, forgetKey, storedKey } from './api-client.js';
import { el } from './dom.js';

const PAGE = 50;

function row(run) {
  return el('tr', { 'data-run-id': run.runId }, [
    el('td', {}, [el('a', { href: `/ui/runs/${encodeURIComponent(run.runId)}` }, [run.runId])]),
    el('td', {}, [run.agentId]),
    el('td', { class: 'status', 'data-status': run.status }, [run.status]),
    el('td', {}, [new Date(run.createdAt).toLocaleString()]),
    el('td', {}, [run.finishedAt ? new Date(run.finishedAt).toLocaleString() : '–']),
  ]);
}

async function loadPage(key, cursor) {
  const query = new URLSearchParams({ limit: String(PAGE) });
  if (cursor) query.set('cursor', cursor);
  const page = await api(key, `/api/runs?${query}`);
  document.querySelector('#runs tbody').append(...page.items.map(row));
  const more = /** @type {HTMLButtonElement} */ (document.getElementById('more'));
  more.hidden = page.nextCursor === null;
  more.onclick = () => void loadPage(key, page.nextCursor);
  if (!cursor && page.items.length === 0) document.querySelector('#runs tbody').append(el('tr', {}, [el('td', { colspan: 5, class: 'muted' }, ['no runs yet'])]));
}

async function main() {
  let key = storedKey() ?? (await askForKey('Enter an API key of your project. It is kept in this tab only, never in a URL.'));
  for (;;) {
    try {
      await loadPage(key, null);
      document.getElementById('list').hidden = false;
      return;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        forgetKey();
        key = await askForKey('The API refused that key. Enter a valid key of your project.');
        continue;
      }
      const notice = document.getElementById('notice');
      notice.textContent = `Could not list the runs: ${err instanceof Error ? err.message : String(err)}`;
      notice.hidden = false;
      return;
    }
  }
}

void main();
