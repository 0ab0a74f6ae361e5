// @ts-check
import tseslint from 'typescript-eslint';

/** Modules `src/core` must never import: it is pure (DESIGN.md §3, STYLE.md). */
const CORE_FORBIDDEN_IMPORTS = [
  'node:fs',
  'node:fs/promises',
  'node:net',
  'node:http',
  'node:https',
  'node:child_process',
  'node:dns',
  'node:os',
  'node:sqlite',
  'fs',
  'net',
  'http',
  'https',
  'child_process',
  'pg',
  'kysely',
  'fastify',
  'jose',
  'pino',
  'prom-client',
];

export default tseslint.config(
  { ignores: ['node_modules/', 'web/dist/', '.countersign/', 'coverage/'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // node:test's describe/it return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-non-null-assertion': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/core/**/*.ts'],
    ignores: ['src/core/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: CORE_FORBIDDEN_IMPORTS.map((name) => ({
            name,
            message: 'src/core is pure: I/O, drivers and frameworks come through ports.',
          })),
          patterns: [
            {
              group: ['**/adapters/**', '**/app/**', '**/http/**', '**/cli/**', '**/config/**'],
              message: 'src/core imports only src/core.',
            },
          ],
        },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'Use the Clock port.' },
        { object: 'Math', property: 'random', message: 'Use the Random port.' },
        { object: 'process', property: 'env', message: 'Only src/config reads the environment.' },
      ],
    },
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
