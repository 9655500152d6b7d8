// Lint rules. The domain stays free of infrastructure (no AWS SDK, SQLite or GraphQL server), and
// resolvers/ is checked against AppSync's JavaScript runtime limits by @aws-appsync/eslint-plugin.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import appsync from '@aws-appsync/eslint-plugin';

export default tseslint.config(
  { ignores: ['node_modules/', 'cdk.out/', '.data/', 'coverage/', 'src/generated/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        Buffer: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        setImmediate: 'readonly',
        URL: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['src/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@aws-sdk/*', 'aws-cdk-lib', 'aws-cdk-lib/*'],
              message: 'The domain imports no AWS SDK or CDK.',
            },
            { group: ['node:sqlite', 'better-sqlite3'], message: 'The domain imports no database driver.' },
            {
              group: ['graphql-yoga', 'graphql-ws', 'ws', 'graphql'],
              message: 'The domain imports no GraphQL server.',
            },
            {
              group: ['**/adapters/**', '**/handlers/**', '**/local/**', '**/use-cases/**'],
              message: 'Imports point inwards: the domain depends on nothing else in src.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['resolvers/**/*.ts'],
    ...appsync.configs.recommended,
    languageOptions: {
      ...appsync.configs.recommended.languageOptions,
      parserOptions: { project: './tsconfig.json', tsconfigRootDir: import.meta.dirname },
    },
  },
);
