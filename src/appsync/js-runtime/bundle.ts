/**
 * Bundling of APPSYNC_JS resolver files, shared by deployment and the local runtime so both run the same code.
 */
import { build, type BuildFailure, type BuildOptions } from 'esbuild';
import { ResolverLoadError } from './errors.ts';

/**
 * esbuild options for resolver code, minus `entryPoints` and `format`. Deployment (CDK) bundles with
 * `format: 'esm'`, which is the only module format APPSYNC_JS accepts; the local runtime bundles with
 * `format: 'cjs'` so that a `node:vm` context can evaluate it without experimental module flags.
 *
 * - `target: 'es2020'` makes esbuild rewrite syntax AppSync rejects although it is newer than its ES6 baseline,
 *   e.g. `??=` (R22).
 * - `@aws-appsync/*` modules are built into the runtime and must not be bundled (AWS bundling guide).
 * - An inline source map without `sourcesContent` is what the AWS guide recommends: AppSync uses it for
 *   error locations, and leaving sources out keeps the code under the size quota.
 * - `platform: 'neutral'` keeps Node built-ins out: importing `fs` fails to bundle, as it cannot work on AWS.
 */
export const APPSYNC_ESBUILD_OPTIONS = {
  bundle: true,
  platform: 'neutral',
  target: 'es2020',
  external: ['@aws-appsync/utils', '@aws-appsync/utils/*'],
  sourcemap: 'inline',
  sourcesContent: false,
  minify: false,
} as const satisfies BuildOptions;

/**
 * Bundles one resolver file into a single script.
 *
 * @param file path to the resolver (`.ts` or `.js`), exporting `request` and `response`
 * @param format `'esm'` for what deployment uploads, `'cjs'` for local evaluation
 * @returns the bundled code, with an inline source map
 * @throws {ResolverLoadError} with esbuild's messages when the file does not bundle
 */
export async function bundleResolver(file: string, format: 'esm' | 'cjs'): Promise<string> {
  try {
    // In memory and silent: failures are reported through the thrown error instead of stderr.
    const result = await build({
      ...APPSYNC_ESBUILD_OPTIONS,
      entryPoints: [file],
      format,
      write: false,
      logLevel: 'silent',
    });
    const output = result.outputFiles[0];
    if (!output) throw new ResolverLoadError(file, 'esbuild produced no output');
    return output.text;
  } catch (cause) {
    if (cause instanceof ResolverLoadError) throw cause;
    const failure = cause as Partial<BuildFailure>;
    const details = failure.errors?.map((e) =>
      e.location ? `${e.location.file}:${e.location.line}:${e.location.column}: ${e.text}` : e.text,
    );
    throw new ResolverLoadError(file, `bundling failed: ${details?.join('; ') ?? String(cause)}`, { cause });
  }
}
