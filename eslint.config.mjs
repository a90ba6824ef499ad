// ESLint flat config. Two rules from STYLE.md are enforced here:
// - floating promises are errors everywhere (a lost promise is a lost error);
// - workflow code stays deterministic: it may import only types from activities/,
//   and none of Node's built-ins, TensorFlow.js, MikroORM or Fastify;
// - the API process never loads TensorFlow.js (issue 16): api/ imports nothing from ml/ (the
//   run spec it needs lives in spec/, the Hugging Face hub client in hub/), and spec/ and hub/
//   import no tensor code. test/api/no-tensorflow.test.ts checks the same at run time;
// - the run contract (contract/) has no runtime dependencies, and activities/ take the run's
//   shapes from it, never from workflows/ (issue 16).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = builtinModules.flatMap((m) => [m, `node:${m}`]);

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', 'models/**', '.cache/**', 'coverage/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'Workflows must be deterministic: no Node built-ins.' })),
          patterns: [
            { group: ['@tensorflow/*', '@mikro-orm/*', 'fastify', '@fastify/*', 'pg'], message: 'Workflows orchestrate only.' },
            { group: ['../activities', '../activities/*'], allowTypeImports: true, message: 'Import activity types only (import type).' },
            { group: ['../ml', '../ml/*', '../db', '../db/*', '../api', '../api/*', '../storage', '../storage/*'], message: 'Workflows orchestrate only.' },
          ],
        },
      ],
    },
  },
  {
    files: ['api/**/*.ts'],
    rules: {
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@tensorflow/*'], message: 'The API process never loads TensorFlow.js.' },
            { group: ['**/ml', '**/ml/**'], message: 'The API never imports ml/: the run spec is in spec/, the hub client in hub/.' },
          ],
        },
      ],
    },
  },
  {
    files: ['spec/**/*.ts', 'hub/**/*.ts'],
    rules: {
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@tensorflow/*'], message: 'spec/ and hub/ are pure of TensorFlow.js (the API loads them).' },
            {
              group: ['**/ml/tf', '**/ml/model', '**/ml/layers', '**/ml/backend', '**/ml/dataset', '**/ml/hf/load', '**/ml/hf/export'],
              message: 'spec/ and hub/ may use only the tensor-free parts of ml/ (tokenizers, rng).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['contract/**/*.ts'],
    rules: {
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ group: ['*', '**', '.*/**'], allowTypeImports: true, message: 'The run contract has no runtime dependencies: import types only.' }] },
      ],
    },
  },
  {
    files: ['activities/**/*.ts'],
    rules: {
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/workflows', '**/workflows/**'], message: 'Activities take the run shapes from contract/, never from workflows/.' }] },
      ],
    },
  },
);
