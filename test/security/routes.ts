/**
 * Every API route behind a key, as a request builder, for the auth, path-safety and fuzz
 * tests. `auth.test.ts` checks this table against the OpenAPI document, so a new route
 * cannot be added without being covered here.
 */
import type { InjectOptions } from 'fastify';

export interface RouteIds {
  agentId: string;
  runId: string;
}

export interface ProtectedRoute {
  /** OpenAPI path, e.g. /api/runs/{runId}/pause. */
  path: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** The id the route is about. */
  subject: 'agentId' | 'runId';
  /** A request that the owner of the ids would have accepted. */
  request(ids: RouteIds): InjectOptions;
  /**
   * The owner's answer when it is not a 2xx because of the tests' own state, after the key and
   * the ownership passed (e.g. 409 run_active: the owner's run never ends, there is no worker).
   */
  ownerStatus?: { status: number; error: string };
}

const feedbackItem = { prompt: 'how are you?', response: 'fine', score: 1, runId: 'rt-1' };

const post = (url: string, payload: object): InjectOptions => ({ method: 'POST', url, payload });

export const PROTECTED_ROUTES: readonly ProtectedRoute[] = [
  { path: '/api/policies/feedback/{agentId}', method: 'POST', subject: 'agentId', request: ({ agentId }) => post(`/api/policies/feedback/${agentId}`, feedbackItem) },
  {
    path: '/api/policies/feedback/{agentId}/batch',
    method: 'POST',
    subject: 'agentId',
    request: ({ agentId }) => post(`/api/policies/feedback/${agentId}/batch`, { items: [feedbackItem, feedbackItem] }),
  },
  { path: '/api/policies/feedback/{agentId}', method: 'GET', subject: 'agentId', request: ({ agentId }) => ({ method: 'GET', url: `/api/policies/feedback/${agentId}?limit=5` }) },
  {
    path: '/api/policies/feedback/{agentId}/import',
    method: 'POST',
    subject: 'agentId',
    request: ({ agentId }) => ({
      method: 'POST',
      url: `/api/policies/feedback/${agentId}/import`,
      payload: `${JSON.stringify(feedbackItem)}\n${JSON.stringify(feedbackItem)}\n`,
      headers: { 'content-type': 'application/x-ndjson' },
    }),
  },
  { path: '/api/policies/feedback/{agentId}/export', method: 'GET', subject: 'agentId', request: ({ agentId }) => ({ method: 'GET', url: `/api/policies/feedback/${agentId}/export` }) },
  {
    path: '/api/policies/feedback/{agentId}',
    method: 'DELETE',
    subject: 'agentId',
    request: ({ agentId }) => ({ method: 'DELETE', url: `/api/policies/feedback/${agentId}?ids=1,2` }),
    // The owner's run is active for the whole file: deleting its feedback is refused until it ends.
    ownerStatus: { status: 409, error: 'run_active' },
  },
  { path: '/api/policies/{agentId}', method: 'GET', subject: 'agentId', request: ({ agentId }) => ({ method: 'GET', url: `/api/policies/${agentId}` }) },
  // The owner's agent has one policy version, v1 (auth.test.ts seeds it): set, read, promote, then roll back.
  {
    path: '/api/policies/{agentId}/deployment',
    method: 'PUT',
    subject: 'agentId',
    request: ({ agentId }) => ({ method: 'PUT', url: `/api/policies/${agentId}/deployment`, payload: { variants: [{ version: 'v1', weight: 1 }] } }),
  },
  { path: '/api/policies/{agentId}/deployment', method: 'GET', subject: 'agentId', request: ({ agentId }) => ({ method: 'GET', url: `/api/policies/${agentId}/deployment` }) },
  { path: '/api/policies/{agentId}/deployment/promote', method: 'POST', subject: 'agentId', request: ({ agentId }) => post(`/api/policies/${agentId}/deployment/promote`, { version: 'v1' }) },
  { path: '/api/policies/{agentId}/deployment/rollback', method: 'POST', subject: 'agentId', request: ({ agentId }) => post(`/api/policies/${agentId}/deployment/rollback`, {}) },
  { path: '/api/policies/{agentId}/deployment/history', method: 'GET', subject: 'agentId', request: ({ agentId }) => ({ method: 'GET', url: `/api/policies/${agentId}/deployment/history` }) },
  { path: '/api/policies/{agentId}/ab', method: 'GET', subject: 'agentId', request: ({ agentId }) => ({ method: 'GET', url: `/api/policies/${agentId}/ab` }) },
  { path: '/api/policies/train_policy/{agentId}', method: 'POST', subject: 'agentId', request: ({ agentId }) => post(`/api/policies/train_policy/${agentId}`, { dryRun: true }) },
  {
    path: '/api/policies/{agentId}/schedule',
    method: 'PUT',
    subject: 'agentId',
    request: ({ agentId }) => ({ method: 'PUT', url: `/api/policies/${agentId}/schedule`, payload: { every: '1d', minNewFeedback: 10 } }),
  },
  { path: '/api/policies/{agentId}/schedule', method: 'GET', subject: 'agentId', request: ({ agentId }) => ({ method: 'GET', url: `/api/policies/${agentId}/schedule` }) },
  { path: '/api/policies/{agentId}/schedule/pause', method: 'POST', subject: 'agentId', request: ({ agentId }) => post(`/api/policies/${agentId}/schedule/pause`, {}) },
  { path: '/api/policies/{agentId}/schedule/unpause', method: 'POST', subject: 'agentId', request: ({ agentId }) => post(`/api/policies/${agentId}/schedule/unpause`, {}) },
  { path: '/api/policies/{agentId}/schedule/trigger', method: 'POST', subject: 'agentId', request: ({ agentId }) => post(`/api/policies/${agentId}/schedule/trigger`, {}) },
  // After the schedule's other routes: the owner's-key test sends them in this order.
  { path: '/api/policies/{agentId}/schedule', method: 'DELETE', subject: 'agentId', request: ({ agentId }) => ({ method: 'DELETE', url: `/api/policies/${agentId}/schedule` }) },
  { path: '/api/runs', method: 'GET', subject: 'agentId', request: ({ agentId }) => ({ method: 'GET', url: `/api/runs?agentId=${encodeURIComponent(agentId)}` }) },
  { path: '/api/runs/{runId}', method: 'GET', subject: 'runId', request: ({ runId }) => ({ method: 'GET', url: `/api/runs/${runId}` }) },
  { path: '/api/runs/{runId}/metrics', method: 'GET', subject: 'runId', request: ({ runId }) => ({ method: 'GET', url: `/api/runs/${runId}/metrics` }) },
  // follow=false: the owner's run never ends in these tests (no worker), and a followed stream would not either.
  { path: '/api/runs/{runId}/events', method: 'GET', subject: 'runId', request: ({ runId }) => ({ method: 'GET', url: `/api/runs/${runId}/events?follow=false` }) },
  { path: '/api/runs/{runId}/pause', method: 'POST', subject: 'runId', request: ({ runId }) => post(`/api/runs/${runId}/pause`, {}) },
  { path: '/api/runs/{runId}/resume', method: 'POST', subject: 'runId', request: ({ runId }) => post(`/api/runs/${runId}/resume`, {}) },
  { path: '/api/runs/{runId}/kl', method: 'POST', subject: 'runId', request: ({ runId }) => post(`/api/runs/${runId}/kl`, { coef: 0.1 }) },
  { path: '/api/runs/{runId}/cancel', method: 'POST', subject: 'runId', request: ({ runId }) => post(`/api/runs/${runId}/cancel`, {}) },
];

/** Routes that answer without a key. */
export const PUBLIC_PATHS = ['/healthz', '/metrics'] as const;

/** `name METHOD path` for test titles. */
export function routeName(route: ProtectedRoute): string {
  return `${route.method} ${route.path}`;
}

export function withHeaders(request: InjectOptions, headers: Record<string, string>): InjectOptions {
  return { ...request, headers: { ...request.headers, ...headers } };
}
