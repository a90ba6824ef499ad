/**
 * The run pages (`/ui/runs`, `/ui/runs/:runId`): static HTML, CSS and JS shipped in `ui/`, served
 * from memory. The pages are public (a browser cannot send the bearer key on a navigation); they
 * hold no data. Their scripts ask for the key once, keep it in the tab's sessionStorage, and fetch
 * everything through the `/api` routes with `Authorization: Bearer`, so the usual auth and project
 * scoping apply (README.md "Run page"). Hidden from the OpenAPI document: these are pages, not API operations.
 *
 * Every answer carries a strict Content-Security-Policy: scripts, styles and fetches from this
 * origin only, no inline script or style, no plugins, no framing, no form posts. Sampled completions
 * are untrusted model output, and the scripts write them with textContent only; the policy is the
 * second line of defence.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { Type, type Static } from 'typebox';
import { RunIdParams } from '../schemas/common';

/** Where the page sources live (repo-root `ui/`). */
export const UI_DIR = path.join(__dirname, '..', '..', 'ui');

/**
 * The CSP of every UI answer (CSP Level 3). `connect-src 'self'`: fetch() may only reach this API.
 * `img-src 'self'`: nothing loads images from elsewhere (an injected <img> could not beacon out).
 */
export const UI_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The assets the pages load, by the name in `/ui/assets/:name`, with their content types. Nothing else is served. */
const ASSETS: Record<string, string> = {
  'run-page.js': 'text/javascript; charset=utf-8',
  'run-list.js': 'text/javascript; charset=utf-8',
  'api-client.js': 'text/javascript; charset=utf-8',
  'charts.js': 'text/javascript; charset=utf-8',
  'dom.js': 'text/javascript; charset=utf-8',
  'ui.css': 'text/css; charset=utf-8',
};

/** An asset's name: a file name of ui/ (no path), checked before the lookup in ASSETS. */
const AssetParams = Type.Object({ name: Type.String({ pattern: '^[a-z][a-z-]{0,40}\\.(js|css)$' }) }, { additionalProperties: false });

/** Escapes a value for an HTML attribute in double quotes. */
function attribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function secured(reply: FastifyReply, contentType: string): FastifyReply {
  return reply
    .type(contentType)
    .header('content-security-policy', UI_CONTENT_SECURITY_POLICY)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-cache');
}

const uiRoutes: FastifyPluginAsync = async (fastify) => {
  const { TEMPORAL_UI_URL, TEMPORAL_NAMESPACE } = fastify.appConfig.env;
  // The run page links the run's workflow in the Temporal Web UI; the operator's setting goes in a meta tag.
  const temporalWorkflows = `${TEMPORAL_UI_URL.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(TEMPORAL_NAMESPACE)}/workflows/`;
  const page = (file: string) => readFileSync(path.join(UI_DIR, file), 'utf8').replace('{{TEMPORAL_WORKFLOWS_URL}}', attribute(temporalWorkflows));
  const runPage = page('run-page.html');
  const runList = page('run-list.html');
  const assets = new Map(Object.entries(ASSETS).map(([name, type]) => [name, { type, body: readFileSync(path.join(UI_DIR, name)) }]));

  const hidden = { hide: true } as const;
  fastify.get('/ui/runs', { config: { public: true }, schema: hidden }, async (_request, reply) => secured(reply, 'text/html; charset=utf-8').send(runList));
  fastify.get('/ui/runs/:runId', { config: { public: true }, schema: { ...hidden, params: RunIdParams } }, async (_request, reply) =>
    secured(reply, 'text/html; charset=utf-8').send(runPage),
  );
  fastify.get<{ Params: Static<typeof AssetParams> }>('/ui/assets/:name', { config: { public: true }, schema: { ...hidden, params: AssetParams } }, async (request, reply) => {
    const asset = assets.get(request.params.name);
    if (!asset) return secured(reply, 'application/json; charset=utf-8').status(404).send({ error: 'not_found', message: 'no such asset', field: 'name' });
    return secured(reply, asset.type).send(asset.body);
  });
};

export default uiRoutes;
