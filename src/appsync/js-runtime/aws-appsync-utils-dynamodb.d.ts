/**
 * Types for the built-in `@aws-appsync/utils/dynamodb` module under `moduleResolution: NodeNext`.
 *
 * The package has no `exports` map, so NodeNext only resolves the subpath with a file extension
 * (`@aws-appsync/utils/dynamodb.js`), while AppSync only knows the extensionless name. This declaration lets
 * resolvers import it by the name AppSync uses; esbuild keeps the import external either way.
 */
declare module '@aws-appsync/utils/dynamodb' {
  export * from '@aws-appsync/utils/lib/dynamodb-helpers.js';
}
