/**
 * The browser helpers on their own, without Temporal: a missing Chromium fails with the
 * install instructions, and the page guard really blocks non-loopback requests while letting
 * loopback ones through.
 */
import { createServer, type Server } from 'node:http';
import type { Browser } from 'playwright-core';
import {
  assertChromiumInstalled,
  CHROMIUM_EXECUTABLE,
  freeLoopbackPort,
  keepPageOnLoopback,
  launchHeadlessChromium,
  SKIP_UI_TEST_VARIABLE,
  uiTestSkipped,
} from '../helpers/browser';

describe('assertChromiumInstalled', () => {
  it('names the install script and the skip variable when the browser is absent', () => {
    expect(() => assertChromiumInstalled('/nonexistent/chromium')).toThrow(/scripts\/install-chromium\.sh/);
    expect(() => assertChromiumInstalled('/nonexistent/chromium')).toThrow(new RegExp(`${SKIP_UI_TEST_VARIABLE}=1`));
  });
});

describe('freeLoopbackPort', () => {
  it('returns a port a server can then listen on', async () => {
    const port = await freeLoopbackPort();
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    await new Promise((resolve) => server.close(resolve));
    expect(port).toBeGreaterThan(0);
  });
});

(uiTestSkipped() ? describe.skip : describe)('keepPageOnLoopback', () => {
  let browser: Browser | undefined;
  let server: Server | undefined;
  let port = 0;

  beforeAll(async () => {
    assertChromiumInstalled(CHROMIUM_EXECUTABLE);
    server = createServer((req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(req.url === '/' ? '<p id="hello">hello</p>' : 'ok');
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
    browser = await launchHeadlessChromium();
  });

  afterAll(async () => {
    await browser?.close();
    if (server) await new Promise((resolve) => server!.close(resolve));
  });

  it('lets loopback requests through and aborts and records the rest', async () => {
    const page = await browser!.newPage();
    const blocked = await keepPageOnLoopback(page);
    await page.goto(`http://127.0.0.1:${port}/`);
    expect(await page.locator('#hello').innerText()).toBe('hello');

    // `.invalid` never resolves (RFC 2606): nothing leaves the machine even if the guard failed;
    // the guard's record is what proves it intercepted the request.
    const outcome = await page.evaluate(async () => {
      const local = await fetch('/ping').then((r) => r.text());
      const remote = await fetch('http://example.invalid/font.woff2').then(
        () => 'fetched',
        (err: Error) => err.message,
      );
      return { local, remote };
    });
    expect(outcome.local).toBe('ok');
    expect(outcome.remote).not.toBe('fetched');
    expect(blocked).toEqual(['http://example.invalid/font.woff2']);
    await page.close();
  });
});
