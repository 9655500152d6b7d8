import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createYoga, isAsyncIterable, type Plugin } from 'graphql-yoga';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { WebSocketServer } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
import { GraphQLError, type DocumentNode, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { withAppendedErrors, type LocalAppSync, type LocalRequestContext } from '../appsync/local-appsync.ts';
import { formatAppSyncError } from '../appsync/error-format.ts';
import {
  awsJsonVariableErrors,
  checkRequest,
  parseWithLimits,
  requestLimitRules,
  type RequestLimits,
} from '../appsync/request-limits.ts';
import { LIMITS } from '../domain/limits.ts';
import type { Logger } from '../domain/task-type.ts';
import type { FsBlobStore } from '../adapters/local/fs-blob-store.ts';

export interface ServerOptions {
  appsync: LocalAppSync;
  /** Serves the signed upload and download URLs of the local blob store. */
  blobs: FsBlobStore;
  apiKey: string;
  host: string;
  port: number;
  logger: Logger;
}

const GRAPHQL_PATH = '/graphql';

const DEFAULT_QUERY = `# Submit a task, then watch it in a second tab with the subscription below.
mutation Submit {
  submitTask(input: {
    type: PROCESS_DATA
    payload: "{\\"records\\":[{\\"name\\":\\"Ada\\",\\"age\\":36},{\\"name\\":\\"Alan\\",\\"age\\":41}],\\"operations\\":[{\\"op\\":\\"sort\\",\\"by\\":[{\\"field\\":\\"age\\",\\"order\\":\\"desc\\"}]}]}"
  }) { id status version }
}

# subscription Watch { onTaskUpdated { id status progress result error { message } version } }
`;

function keyMatches(given: unknown, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** AppSync's request-level auth failure: HTTP 401 with UnauthorizedException. */
function sendUnauthorized(res: ServerResponse, provided: boolean): void {
  res.writeHead(401, { 'content-type': 'application/json', 'x-amzn-ErrorType': 'UnauthorizedException' });
  res.end(
    JSON.stringify({
      errors: [
        {
          errorType: 'UnauthorizedException',
          message: provided
            ? 'You are not authorized to make this call. The x-api-key header does not match the API key (printed at start-up, kept in DATA_DIR/api-key).'
            : 'Valid authorization header not provided. Send the API key in the x-api-key header.',
        },
      ],
    }),
  );
}

function sendError(res: ServerResponse, status: number, errorType: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-ErrorType': errorType });
  res.end(JSON.stringify({ errors: [{ errorType, message }] }));
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      req.resume();
      resolve('too-large');
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        resolve('too-large');
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Counts bytes through a stream and fails it past `max`, so an oversized upload stores nothing. */
function limitBytes(max: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > max) done(new PayloadTooLarge(max));
      else done(null, chunk);
    },
  });
}

class PayloadTooLarge extends Error {
  constructor(max: number) {
    super(`The upload is larger than the ${max} bytes this URL allows.`);
  }
}

/**
 * The local twin of presigned S3 URLs: PUT stores the body under the signed key if the signature,
 * expiry, Content-Type and size check out; GET streams it back.
 */
export async function serveBlob(
  blobs: FsBlobStore,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  logger: Logger,
): Promise<void> {
  const grant = blobs.verify(req.method ?? 'GET', url.pathname, url.searchParams, Date.now());
  if ('refused' in grant) {
    req.resume();
    sendError(res, 403, 'AccessDenied', grant.refused);
    return;
  }
  if (grant.op === 'get') {
    const info = await blobs.head(grant.key);
    if (!info) {
      sendError(res, 404, 'NoSuchKey', `No blob with key "${grant.key}" exists.`);
      return;
    }
    res.writeHead(200, {
      'content-type': info.contentType ?? 'application/octet-stream',
      'content-length': String(info.bytes),
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    await pipeline(blobs.stream(grant.key), res);
    return;
  }
  const contentType = (req.headers['content-type'] ?? '').toLowerCase();
  if (contentType !== (grant.contentType ?? '').toLowerCase()) {
    req.resume();
    sendError(
      res,
      403,
      'AccessDenied',
      `This URL takes Content-Type ${grant.contentType}; the request sent "${contentType}".`,
    );
    return;
  }
  const max = grant.maxBytes ?? 0;
  if (Number(req.headers['content-length'] ?? 0) > max) {
    req.resume();
    sendError(res, 413, 'EntityTooLarge', `The upload is larger than the ${max} bytes this URL allows.`);
    return;
  }
  try {
    const limited = limitBytes(max);
    req.pipe(limited);
    req.on('error', (error) => limited.destroy(error));
    const info = await blobs.write(grant.key, limited, {
      contentType: grant.contentType ?? 'application/octet-stream',
    });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ key: info.key, bytes: info.bytes }));
  } catch (error) {
    if (error instanceof PayloadTooLarge) {
      req.resume();
      sendError(res, 413, 'EntityTooLarge', error.message);
      return;
    }
    logger.error('upload failed', { key: grant.key, error: String(error) });
    sendError(res, 500, 'InternalError', 'The upload could not be stored; see the server log.');
  }
}

function formatResult(result: ExecutionResult): Record<string, unknown> {
  if (!result.errors?.length) return result as Record<string, unknown>;
  return { ...result, errors: result.errors.map(formatAppSyncError) };
}

const REQUEST_LIMITS: RequestLimits = LIMITS;

/** yoga's own refusals of the HTTP request itself (not JSON, no query string, wrong method). */
function malformedRequestStatus(error: unknown): number | undefined {
  if (!(error instanceof GraphQLError) || error.extensions['code'] !== 'BAD_REQUEST') return undefined;
  const http = error.extensions['http'] as { status?: number } | undefined;
  return http?.status ?? 400;
}

/**
 * An HTTP result as AppSync answers it: a malformed request is HTTP 400 with MalformedHttpRequestException;
 * every GraphQL error (syntax, validation, limits, resolvers) is HTTP 200 with `data: null` when nothing
 * ran. The errors are plain objects after formatting, so the status is set here, through yoga's
 * `extensions.http` (which yoga strips from the body); otherwise yoga would call them unexpected, a 500.
 */
function appSyncHttpResult(result: ExecutionResult): Record<string, unknown> {
  const errors = result.errors ?? [];
  const status = errors.map(malformedRequestStatus).find((s) => s !== undefined);
  if (status !== undefined) {
    const errorType = 'MalformedHttpRequestException';
    return {
      errors: errors.map((error) => ({ errorType, message: explainMalformed(error.message) })),
      extensions: { http: { status, headers: { 'x-amzn-ErrorType': errorType } } },
    };
  }
  return { data: null, ...formatResult({ ...result, errors: errors.map(explainOperationChoice) }) };
}

const REQUEST_SHAPE =
  'a JSON object such as {"query": "query ($id: ID!) { task(id: $id) { status } }", "variables": {"id": "…"}}';

/** yoga's refusals of a request's shape say what is wrong; AppSync's callers also need what to send. */
function explainMalformed(message: string): string {
  if (/^POST body sent invalid JSON/.test(message))
    return `${message} The body of a GraphQL request is ${REQUEST_SHAPE}.`;
  if (/^Must provide query string/.test(message))
    return `${message} Put the operation in the "query" field of the body, ${REQUEST_SHAPE}.`;
  if (/^POST body is expected to be object/.test(message))
    return `${message}. The body of a GraphQL request is ${REQUEST_SHAPE}.`;
  if (/^Batching is not supported/.test(message))
    return `${message} Send one operation per request (a JSON object, not an array); one document may hold several root fields.`;
  return message;
}

/** yoga's "Could not determine what operation to execute." says what, not what to do about it. */
function explainOperationChoice(error: GraphQLError): GraphQLError {
  if (error.extensions['code'] !== 'OPERATION_RESOLUTION_FAILURE') return error;
  return new GraphQLError(
    `${error.message} Send operationName with the name of one operation in the document.`,
    { extensions: { errorType: 'ValidationError' } },
  );
}

/**
 * The local GraphQL endpoint: POST /graphql (and GraphQL over SSE) through graphql-yoga, WebSocket
 * subscriptions on the same path with the graphql-transport-ws protocol, GraphiQL served from the
 * package (no CDN) on GET /graphql. Every operation needs the API key, as on AppSync.
 */
export async function startServer(
  options: ServerOptions,
): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const { appsync, apiKey, logger } = options;
  const loopback = ['127.0.0.1', 'localhost', '::1'].includes(options.host);

  const appsyncErrors: Plugin = {
    onExecute() {
      return {
        onExecuteDone({ args, result, setResult }) {
          if (!isAsyncIterable(result)) setResult(withAppendedErrors(result, args.contextValue));
        },
      };
    },
    onResultProcess({ result, setResult }) {
      if (!Array.isArray(result) && result && typeof result === 'object' && 'errors' in result) {
        setResult(appSyncHttpResult(result as ExecutionResult));
      }
    },
  };

  // The request limits (src/domain/limits.ts) on yoga's path: size before parsing, depth, aliases and
  // inline AWSJSON while validating, AWSJSON variables before execution. WebSocket: onSubscribe below.
  const limitRules = requestLimitRules(REQUEST_LIMITS);
  const refuseDeepJsonVariables = ({
    args,
    setResultAndStopExecution,
  }: {
    args: {
      schema: GraphQLSchema;
      document: DocumentNode;
      operationName?: string | null;
      variableValues?: unknown;
    };
    setResultAndStopExecution: (result: ExecutionResult) => void;
  }): void => {
    const errors = awsJsonVariableErrors(
      args.schema,
      args.document,
      args.operationName,
      args.variableValues as Record<string, unknown> | null | undefined,
      REQUEST_LIMITS.maxJsonDepth,
    );
    if (errors.length > 0) setResultAndStopExecution({ errors });
  };
  const requestLimits: Plugin = {
    onParse({ setParseFn }) {
      setParseFn((source) =>
        parseWithLimits(typeof source === 'string' ? source : source.body, REQUEST_LIMITS),
      );
    },
    onValidate({ addValidationRule }) {
      for (const rule of limitRules) addValidationRule(rule);
    },
    onExecute: refuseDeepJsonVariables,
    onSubscribe: refuseDeepJsonVariables,
  };

  const yoga = createYoga<Record<string, never>, LocalRequestContext>({
    schema: appsync.schema,
    graphqlEndpoint: GRAPHQL_PATH,
    landingPage: false,
    maskedErrors: false,
    logging: false,
    plugins: [requestLimits, appsyncErrors],
    context: ({ request }) => ({
      auth: { mode: 'API_KEY' },
      headers: Object.fromEntries(request.headers.entries()),
    }),
    graphiql: {
      title: 'Task queue — GraphiQL',
      defaultQuery: DEFAULT_QUERY,
      // On loopback the page carries the key so GraphiQL works at once; elsewhere users paste it.
      ...(loopback
        ? { additionalHeaders: { 'x-api-key': apiKey } }
        : { headers: JSON.stringify({ 'x-api-key': '' }) }),
    },
    renderGraphiQL,
  });

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`);
      if (url.pathname === '/' || url.pathname === '') {
        res.writeHead(302, { location: GRAPHQL_PATH });
        res.end();
        return;
      }
      if (url.pathname === '/health') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"status":"ok"}');
        return;
      }
      if (url.pathname.startsWith('/blobs/')) {
        await serveBlob(options.blobs, req, res, url, logger);
        return;
      }
      if (url.pathname !== GRAPHQL_PATH) {
        sendError(
          res,
          404,
          'NotFoundException',
          `Nothing at ${url.pathname}; the GraphQL endpoint is ${GRAPHQL_PATH}.`,
        );
        return;
      }
      const wantsPage = req.method === 'GET' && (req.headers.accept ?? '').includes('text/html');
      if (!wantsPage) {
        const key = req.headers['x-api-key'];
        if (!keyMatches(key, apiKey)) {
          sendUnauthorized(res, key !== undefined);
          return;
        }
      }
      const body = req.method === 'POST' ? await readBody(req, LIMITS.maxRequestBytes) : undefined;
      if (body === 'too-large') {
        sendError(
          res,
          413,
          'PayloadTooLargeException',
          `The request body is over ${LIMITS.maxRequestBytes} bytes (AppSync's request limit). Send fewer tasks per call or upload large inputs as blobs.`,
        );
        return;
      }
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) {
        if (typeof value === 'string') headers.set(name, value);
        else if (Array.isArray(value)) headers.set(name, value.join(', '));
      }
      // AppSync reads a POST body as JSON whatever its Content-Type says: clients send
      // application/graphql, text/plain or none with a {"query": …} body, and it works there.
      if (body !== undefined) headers.set('content-type', 'application/json');
      const response = await yoga.fetch(url, {
        method: req.method ?? 'GET',
        headers,
        ...(body !== undefined ? { body: new Uint8Array(body) } : {}),
      });
      res.writeHead(response.status, Object.fromEntries(response.headers.entries()));
      if (response.body) {
        // Streams (GraphQL over SSE) go out as they come; yoga's ponyfilled stream has a reader.
        const reader = response.body.getReader();
        res.on('close', () => void reader.cancel().catch(() => undefined));
        for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read())
          res.write(chunk.value);
      }
      res.end();
    })().catch((error: unknown) => {
      logger.error('request failed', { error: String(error) });
      if (!res.headersSent)
        sendError(res, 500, 'InternalFailureException', 'Internal error; see the server log.');
      else res.end();
    });
  });

  const wss = new WebSocketServer({ server, path: GRAPHQL_PATH, maxPayload: LIMITS.maxRequestBytes });
  const wsServer = useServer<Record<string, unknown> | undefined>(
    {
      schema: appsync.schema,
      onConnect: (ctx) => {
        const fromParams = ctx.connectionParams?.['x-api-key'];
        const fromHeader = ctx.extra.request.headers['x-api-key'];
        return keyMatches(fromParams ?? fromHeader, apiKey);
      },
      context: (ctx) => ({
        auth: { mode: 'API_KEY' },
        headers: Object.fromEntries(
          Object.entries(ctx.extra.request.headers).flatMap(([k, v]) =>
            typeof v === 'string' ? [[k, v]] : [],
          ),
        ),
      }),
      onSubscribe: (_ctx, _id, payload) => {
        const checked = checkRequest(appsync.schema, payload, REQUEST_LIMITS, limitRules);
        if ('errors' in checked) return checked.errors;
        return {
          schema: appsync.schema,
          document: checked.document,
          operationName: payload.operationName,
          variableValues: payload.variables,
        };
      },
      onNext: (_ctx, _id, _payload, args, result) =>
        formatResult(withAppendedErrors(result as ExecutionResult, args.contextValue)) as ExecutionResult,
      onError: (_ctx, _id, _payload, errors) => errors.map((e) => formatAppSyncError(e)) as never,
    },
    wss,
  );

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    server,
    url: `http://${host}:${port}${GRAPHQL_PATH}`,
    async close() {
      await wsServer.dispose();
      wss.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
