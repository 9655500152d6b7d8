import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import {
  GraphQLObjectType,
  Kind,
  buildSchema,
  getNamedType,
  getVariableValues,
  parse,
  validate,
  type DocumentNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { SourceData } from '@smithy/types';

const root = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));

const schema = buildSchema(
  readFileSync(root('src/appsync/appsync-declarations.graphql'), 'utf8') +
    '\n' +
    readFileSync(root('schema.graphql'), 'utf8'),
);

/** The only credentials the stand-in accepts: give them to the publisher under test. */
export const CREDENTIALS = { accessKeyId: 'AKID', secretAccessKey: 'SECRET', sessionToken: 'TOKEN' };
export const REGION = 'us-east-1';

function bytes(data: SourceData): string | Uint8Array {
  if (typeof data === 'string') return data;
  return ArrayBuffer.isView(data)
    ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    : new Uint8Array(data);
}

/** SHA-256 and HMAC-SHA256 from node:crypto, so the verifier does not share the signer's hashing. */
class NodeSha256 {
  readonly #hash: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;
  constructor(secret?: SourceData) {
    this.#hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: Uint8Array): void {
    this.#hash.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }
}

/** What the fake AppSync made of one request. */
export interface SeenRequest {
  authorization: string;
  amzDate: string | undefined;
  securityToken: string | undefined;
  signedHeaders: string[];
  /** Empty when the signature is valid for service appsync, region us-east-1 and the credentials. */
  signatureProblems: string[];
  /** Schema validation errors of the query and its variables. */
  queryProblems: string[];
  /** Task fields (nested ones as error.code) the publishTaskUpdate selection lacks or should not have. */
  selectionProblems: string[];
  variables: Record<string, unknown>;
}

/** A SigV4 Authorization header for AKID, scoped to appsync in us-east-1. */
export const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=AKID\/(\d{8})\/us-east-1\/appsync\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=[0-9a-f]{64}$/;

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/** Parses an x-amz-date (20300101T120000Z). */
function dateFromAmzDate(amzDate: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (!m) throw new Error(`not an x-amz-date: ${amzDate}`);
  return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
}

/**
 * Signs the received request again, from its own method, path, signed headers and body, and says
 * what does not match. The body hash is recomputed from the bytes that arrived, not taken from the
 * x-amz-content-sha256 header, so a changed body fails.
 */
async function signatureProblems(request: IncomingMessage, body: string): Promise<string[]> {
  const authorization = header(request, 'authorization') ?? '';
  const match = AUTHORIZATION.exec(authorization);
  if (!match) return [`authorization is not a SigV4 appsync/us-east-1 header for AKID: ${authorization}`];
  const amzDate = header(request, 'x-amz-date');
  if (!amzDate) return ['no x-amz-date'];
  if (!amzDate.startsWith(match[1]!)) return [`scope date ${match[1]} is not the day of ${amzDate}`];
  if (header(request, 'x-amz-security-token') !== CREDENTIALS.sessionToken) {
    return ['x-amz-security-token is not the session token'];
  }
  const signedHeaders = match[2]!.split(';');
  const headers: Record<string, string> = {};
  for (const name of signedHeaders) {
    const value = header(request, name);
    if (value === undefined) return [`signed header ${name} was not sent`];
    if (name !== 'x-amz-content-sha256') headers[name] = value;
  }
  const url = new URL(request.url ?? '/', `http://${header(request, 'host')}`);
  const verifier = new SignatureV4({
    service: 'appsync',
    region: REGION,
    credentials: CREDENTIALS,
    sha256: NodeSha256,
  });
  const expected = await verifier.sign(
    new HttpRequest({
      method: request.method ?? '',
      protocol: 'http:',
      hostname: url.hostname,
      path: url.pathname,
      headers,
      body,
    }),
    { signingDate: dateFromAmzDate(amzDate) },
  );
  const problems: string[] = [];
  if (header(request, 'x-amz-content-sha256') !== expected.headers['x-amz-content-sha256']) {
    problems.push('x-amz-content-sha256 is not the hash of the body received');
  }
  if (expected.headers['authorization'] !== authorization) {
    problems.push(`signature does not verify; expected ${expected.headers['authorization']}`);
  }
  return problems;
}

/**
 * Compares a selection set with every field of `type` (less `skip`), into nested object types.
 * Returns the missing fields, the unexpected ones and any selection that is not a plain field.
 */
function selectionProblems(
  selectionSet: SelectionSetNode | undefined,
  type: GraphQLObjectType,
  path: string,
  skip: readonly string[] = [],
): string[] {
  const problems: string[] = [];
  const selected = new Map<string, SelectionSetNode | undefined>();
  for (const selection of selectionSet?.selections ?? []) {
    if (selection.kind !== Kind.FIELD) {
      problems.push(`${path}: a ${selection.kind} instead of plain fields`);
      continue;
    }
    selected.set(selection.name.value, selection.selectionSet);
  }
  const fields = type.getFields();
  for (const name of Object.keys(fields)) {
    if (skip.includes(name)) continue;
    const at = path ? `${path}.${name}` : name;
    if (!selected.has(name)) {
      problems.push(`missing ${at}`);
      continue;
    }
    const named = getNamedType(fields[name]!.type);
    if (named instanceof GraphQLObjectType) {
      problems.push(...selectionProblems(selected.get(name), named, at));
    }
  }
  for (const name of selected.keys()) {
    if (name === '__typename') continue;
    if (!(name in fields) || skip.includes(name))
      problems.push(`unexpected ${path ? `${path}.` : ''}${name}`);
  }
  return problems;
}

function queryChecks(
  query: unknown,
  variables: Record<string, unknown>,
): Pick<SeenRequest, 'queryProblems' | 'selectionProblems'> {
  let document: DocumentNode;
  try {
    document = parse(String(query));
  } catch (error) {
    return { queryProblems: [String(error)], selectionProblems: [] };
  }
  const queryProblems = validate(schema, document).map((e) => e.message);
  const operations = document.definitions.filter(
    (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION,
  );
  const operation = operations[0];
  if (operations.length !== 1 || operation?.operation !== 'mutation') {
    return { queryProblems: [...queryProblems, 'not exactly one mutation'], selectionProblems: [] };
  }
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variables);
  if (coerced.errors) queryProblems.push(...coerced.errors.map((e) => e.message));
  const [root, ...others] = operation.selectionSet.selections;
  if (root?.kind !== Kind.FIELD || root.name.value !== 'publishTaskUpdate' || others.length > 0) {
    return {
      queryProblems: [...queryProblems, 'does not select publishTaskUpdate alone'],
      selectionProblems: [],
    };
  }
  const task = schema.getType('Task') as GraphQLObjectType;
  return {
    queryProblems,
    selectionProblems: selectionProblems(root.selectionSet, task, '', ['payload', 'outputs']),
  };
}

export type Answer = 'data' | 'graphql-error' | 'http-500';

/**
 * A local stand-in for an AppSync endpoint with IAM auth, checking what AppSync would: a request
 * whose signature does not verify is refused with 403, one whose query or selection set is wrong
 * with 400. Every request is recorded in `seen`, in arrival order.
 */
export class FakeAppSync {
  readonly seen: SeenRequest[] = [];
  /** How to answer a correctly signed request: the same for all, or chosen per request. */
  answer: Answer | ((request: SeenRequest) => Answer) = 'data';
  readonly #server: Server;

  constructor() {
    this.#server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        void this.#handle(request, Buffer.concat(chunks).toString('utf8')).then(({ status, body }) => {
          response.writeHead(status, { 'content-type': 'application/json' });
          response.end(body);
        });
      });
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/graphql`;
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => this.#server.close((e) => (e ? reject(e) : resolve())));
  }

  async #handle(request: IncomingMessage, text: string): Promise<{ status: number; body: string }> {
    let parsed: { query?: unknown; variables?: Record<string, unknown> } = {};
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      // Left empty: the query check reports it.
    }
    const variables = parsed.variables ?? {};
    const authorization = header(request, 'authorization') ?? '';
    const seen: SeenRequest = {
      authorization,
      amzDate: header(request, 'x-amz-date'),
      securityToken: header(request, 'x-amz-security-token'),
      signedHeaders: AUTHORIZATION.exec(authorization)?.[2]?.split(';') ?? [],
      signatureProblems: await signatureProblems(request, text),
      ...queryChecks(parsed.query, variables),
      variables,
    };
    this.seen.push(seen);
    const error = (status: number, errorType: string, message: string) => ({
      status,
      body: JSON.stringify({ errors: [{ errorType, message }] }),
    });
    if (seen.signatureProblems.length > 0) {
      return error(403, 'InvalidSignatureException', seen.signatureProblems.join('; '));
    }
    const answer = typeof this.answer === 'function' ? this.answer(seen) : this.answer;
    if (answer === 'http-500') return { status: 500, body: '{"message":"internal failure"}' };
    if (answer === 'graphql-error') {
      return error(200, 'Unauthorized', 'Not Authorized to access publishTaskUpdate on type Mutation');
    }
    const problems = [...seen.queryProblems, ...seen.selectionProblems];
    if (problems.length > 0) return error(400, 'ValidationError', problems.join('; '));
    return { status: 200, body: JSON.stringify({ data: { publishTaskUpdate: variables['input'] } }) };
  }
}
