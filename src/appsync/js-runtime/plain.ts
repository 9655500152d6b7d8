import { ResolverRuntimeError } from './errors.ts';

/**
 * Copies a value out of the resolver's vm realm as plain host JSON data.
 *
 * AppSync hands whatever a handler returns on as JSON, so a JSON round trip is also the most faithful
 * conversion: `undefined` members vanish, `Date`s become ISO strings, `NaN` becomes `null`. It also cuts every
 * link to the sandbox realm (prototypes, functions), so host code never sees objects for which
 * `instanceof Object` is false. A top-level `undefined` becomes `null`, the GraphQL value of "nothing".
 */
export function toPlain(value: unknown, what: string): unknown {
  if (value === undefined) return null;
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (cause) {
    throw new ResolverRuntimeError(`${what} is not JSON-serialisable: ${String(cause)}`, { cause });
  }
  return json === undefined ? null : (JSON.parse(json) as unknown);
}
