/**
 * Jest runs TypeScript through SWC (no type-check; `npm run build` does that).
 * Integration tests expect the services started by scripts/test.sh (TEMPORAL_ADDRESS,
 * DATABASE_URL, TEMPORAL_CLI_PATH in the environment).
 */
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.(t|j|mj)s$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }] },
  // typebox 1.x, its Fastify type provider, `cookie` (used by app.inject) and the OpenAPI validator ship ESM only; jest 30 on
  // Node 20 cannot require them untransformed, so they go through SWC too.
  transformIgnorePatterns: ['/node_modules/(?!(typebox|@fastify/type-provider-typebox|cookie|@seriousme/openapi-schema-validator)/)'],
  // Training tests are CPU-bound; two cores here, so at most two files at once.
  maxWorkers: 2,
  // Generous: workflow and training tests run real servers and CPU training on 2 shared cores; a
  // hang still ends here. Tests assert outcomes, never durations.
  testTimeout: 300_000,
};
