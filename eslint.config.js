// Lint with type information. The rules that matter most here are the promise
// rules: a rejection without an owner crashes the process (Node 20 exits on an
// unhandled rejection) or silently loses a session's error. Every TypeScript
// file -- src/ (its *.test.ts included), test/ and bench/ -- is checked against
// the project's own tsconfig.json, with the same promise rules everywhere.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

const browserGlobals = Object.fromEntries(
  ['window', 'document', 'location', 'sessionStorage', 'fetch', 'confirm', 'btoa', 'Node', 'TextEncoder', 'setTimeout', 'clearTimeout', 'console', 'URLSearchParams']
    .map((name) => [name, 'readonly']),
);

export default defineConfig(
  { ignores: ['dist/', 'node_modules/', '.hopgate/', 'scratch/'] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', {
        // `void p` is not an owner: a voided promise must be handled inside
        // (p.catch(...)), or carry a commented disable saying why it cannot reject.
        ignoreVoid: false,
        // node:test's test()/describe() return promises the test runner itself awaits.
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] }],
      }],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      // `return p` inside try/catch/finally skips the catch: the session would never hear of the failure.
      '@typescript-eslint/return-await': ['error', 'error-handling-correctness-only'],
      '@typescript-eslint/only-throw-error': 'error',
      '@typescript-eslint/prefer-promise-reject-errors': 'error',
      '@typescript-eslint/no-unnecessary-type-assertion': 'error',
      // Noise here: fastify handlers and interface methods (kysely's migration
      // provider) are async on purpose so that a synchronous throw becomes the
      // rejection their caller already handles.
      '@typescript-eslint/require-await': 'off',
      // TypeScript itself reports undefined names (and knows Node's and DOM types); see typescript-eslint's FAQ.
      'no-undef': 'off',
      // The protocol parsers match control characters on purpose (header injection checks).
      'no-control-regex': 'off',
      // A `let` declared before the closures that read it and assigned once later is deliberate.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // `_`-prefixed names are the project's way to drop a field or an argument.
      '@typescript-eslint/no-unused-vars': ['error', {
        argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true,
      }],
    },
  },
  {
    // Tests and benchmarks read JSON answers as `any` and check them with assertions;
    // the `any` rules would only add casts there. The promise rules stay on.
    files: ['test/**/*.ts', 'bench/**/*.ts', 'src/**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  { files: ['**/*.js', '**/*.cjs'], extends: [tseslint.configs.disableTypeChecked] },
  {
    // .dependency-cruiser.cjs: CommonJS run by Node.
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly' } },
  },
  {
    // The dashboard runs in the browser.
    files: ['src/control/dashboard/**/*.js'],
    languageOptions: { globals: browserGlobals },
    rules: { 'no-unused-vars': ['error', { argsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }] },
  },
);
