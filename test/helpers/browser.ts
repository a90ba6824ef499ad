/**
 * Plumbing for browser tests of the Temporal Web UI: where Chromium is and how to launch it
 * headless (playwright-core drives Debian's `chromium`, installed by scripts/install-chromium.sh),
 * a Temporal dev server WITH its Web UI on free loopback ports (the suite's shared server runs
 * `--headless`), and a request guard that keeps the page on loopback addresses.
 */
import { existsSync } from 'node:fs';
import { freeLoopbackPort } from '../../common/loopback-port';
import { defineSearchAttributeKey } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { chromium, type Browser, type Page } from 'playwright-core';
import { SearchAttributeKeys } from '../../common/names';

/** Debian's package installs the browser here; scripts/install-chromium.sh checks the same path. */
export const CHROMIUM_EXECUTABLE = '/usr/bin/chromium';

/** Set to `1` to skip the UI tests on machines that cannot install Chromium. */
export const SKIP_UI_TEST_VARIABLE = 'RLHF_SKIP_UI_TEST';

/**
 * Headless, sandbox-free (root in containers), and quiet: no GPU, no QUIC, and none of the
 * background requests (component updates, sync, first-run pages) that would leave loopback.
 */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function uiTestSkipped(): boolean {
  return process.env[SKIP_UI_TEST_VARIABLE] === '1';
}

/** Throws an error that says how to install Chromium when it is absent (the test must fail, not skip). */
export function assertChromiumInstalled(executable = CHROMIUM_EXECUTABLE): void {
  if (existsSync(executable)) return;
  throw new Error(
    `Chromium is not installed at ${executable}, so the Temporal Web UI test cannot run. ` +
      `Install it with \`sudo bash scripts/install-chromium.sh\` (apt-get install -y chromium), ` +
      `or set ${SKIP_UI_TEST_VARIABLE}=1 to skip this test.`,
  );
}

/**
 * Launches headless Chromium. `chromium.launch` gives every launch a fresh temporary profile
 * (`--user-data-dir=<tmp>/playwright_chromiumdev_profile-*`) and deletes it on close, so no
 * state leaks between runs.
 */
export async function launchHeadlessChromium(executable = CHROMIUM_EXECUTABLE): Promise<Browser> {
  assertChromiumInstalled(executable);
  return chromium.launch({ executablePath: executable, args: [...CHROMIUM_ARGS] });
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * Aborts every request the page makes to a non-loopback host (fonts, telemetry, update
 * checks) and records its URL, so a test can assert the UI needed nothing from outside.
 */
export async function keepPageOnLoopback(page: Page): Promise<string[]> {
  const blocked: string[] = [];
  await page.route('**/*', async (route) => {
    const url = new URL(route.request().url());
    const local = url.protocol === 'data:' || url.protocol === 'blob:' || LOOPBACK_HOSTS.has(url.hostname);
    if (local) return route.continue();
    blocked.push(url.toString());
    return route.abort('blockedbyclient');
  });
  return blocked;
}

// One home for it (the worker's metrics exporter uses it too); tests import it from here.
export { freeLoopbackPort };

export interface TemporalWithUi {
  /** Connected client, workers' native connection and `teardown()` (stops the server). */
  env: TestWorkflowEnvironment;
  /** Base URL of the Web UI, e.g. http://127.0.0.1:41234 */
  uiUrl: string;
}

/**
 * Starts `temporal server start-dev` from `cliPath` on loopback with its Web UI, this
 * project's `AgentId`/`RunPhase` Keyword search attributes, and its own SQLite file. The
 * SDK waits for the frontend to answer and stops the process on `env.teardown()`.
 */
export async function startTemporalWithUi(opts: { cliPath: string; dbFilename: string }): Promise<TemporalWithUi> {
  installWarnOnlyRuntime();
  const uiPort = await freeLoopbackPort();
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: opts.cliPath },
      ip: '127.0.0.1',
      ui: true,
      uiPort,
      dbFilename: opts.dbFilename,
      searchAttributes: [
        defineSearchAttributeKey(SearchAttributeKeys.agentId, 'KEYWORD'),
        defineSearchAttributeKey(SearchAttributeKeys.runPhase, 'KEYWORD'),
      ],
    },
  });
  return { env, uiUrl: `http://127.0.0.1:${uiPort}` };
}

/**
 * The SDK logs every worker state change at INFO; keep test output to warnings and errors.
 * The Runtime is process-wide and installable once, before the first environment or worker;
 * when another helper installed one already, that one stays.
 */
function installWarnOnlyRuntime(): void {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch (err) {
    if (!(err instanceof Error) || err.name !== 'IllegalStateError') throw err;
  }
}

/** Polls `url` until it answers 200 (the UI server starts a moment after the frontend). */
export async function waitForHttpOk(url: string, limitMs = 30_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url);
      if (response.ok) return;
      last = `HTTP ${response.status}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${url} did not answer 200 within ${limitMs} ms (${last})`);
}
