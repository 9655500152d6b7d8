import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  GraphQLEnumType,
  GraphQLError,
  GraphQLObjectType,
  Kind,
  buildSchema,
  defaultFieldResolver,
  execute,
  getNamedType,
  isObjectType,
  parse,
  print,
  responsePathAsArray,
  type DocumentNode,
  type ExecutionResult,
  type FieldNode,
  type GraphQLResolveInfo,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import type { Logger } from '../domain/task-type.ts';
import { allowedModes, unauthorizedError, type AuthMode } from './auth.ts';
import { loadResolver } from './js-runtime/load-resolver.ts';
import type {
  ErrorOutcome,
  LoadedResolver,
  ResolverContextInput,
  RunOutcome,
} from './js-runtime/load-resolver.ts';
import { FIELD_RESOLVERS, type DataSourceName, type FieldResolver } from './resolver-config.ts';
import { installAwsScalars } from './scalars.ts';
import {
  SubscriptionHub,
  basicFilter,
  enhancedFilter,
  type EventFilter,
  type EventHub,
  type PublishedEvent,
} from './subscription-hub.ts';

/** What every local request carries into resolvers. */
export interface LocalRequestContext {
  auth: { mode: AuthMode };
  headers: Record<string, string>;
  /**
   * What resolvers passed to `util.appendError` during this operation, with the field's path: they
   * join the result's errors while the data stands (see withAppendedErrors).
   */
  appendedErrors?: GraphQLError[];
}

/**
 * An operation's result with the errors its resolvers appended (`util.appendError`) added to
 * `errors`, after those of the execution itself, as AppSync returns them: the data stays. Takes them
 * out of the context, so each is reported once. (Subscription events run no resolvers, so they have
 * none to report.)
 */
export function withAppendedErrors(result: ExecutionResult, context: unknown): ExecutionResult {
  const appended = (context as Partial<LocalRequestContext> | null | undefined)?.appendedErrors?.splice(0);
  if (!appended?.length) return result;
  return { ...result, errors: [...(result.errors ?? []), ...appended] };
}

/** A data source answers a resolver's request object with a result, or an error as AppSync reports it. */
export type DataSource = (
  request: unknown,
) => Promise<{ result: unknown } | { error: { message: string; type: string } }>;

export interface LocalAppSyncOptions {
  repoRoot: string;
  dataSources: Record<Exclude<DataSourceName, 'NONE'>, DataSource>;
  logger: Logger;
  /** AppSync's default auth mode for fields without a directive. */
  defaultAuthMode?: AuthMode;
  /**
   * Where published events go and subscriptions are kept: a SubscriptionHub of its own unless given
   * (a publisher thread gives a mirror of the API thread's subscribers).
   */
  hub?: EventHub;
}

/** Loads schema.graphql with the declarations AppSync builds in. */
export function loadSchemaSource(repoRoot: string): string {
  return [
    readFileSync(join(repoRoot, 'src/appsync/appsync-declarations.graphql'), 'utf8'),
    readFileSync(join(repoRoot, 'schema.graphql'), 'utf8'),
  ].join('\n');
}

function errorFrom(info: {
  message: string;
  type: string | null;
  data?: unknown;
  errorInfo?: unknown;
}): GraphQLError {
  return new GraphQLError(info.message, {
    extensions: {
      errorType: info.type ?? 'Unknown',
      data: info.data ?? null,
      errorInfo: info.errorInfo ?? null,
    },
  });
}

/** AppSync's `info.selectionSetList`: slash paths under aliases, fragments flattened. */
function selectionList(set: SelectionSetNode | undefined, info: GraphQLResolveInfo, prefix = ''): string[] {
  const out: string[] = [];
  for (const selection of set?.selections ?? []) {
    if (selection.kind === Kind.FIELD) {
      if (selection.name.value.startsWith('__')) continue;
      const name = `${prefix}${(selection.alias ?? selection.name).value}`;
      out.push(name);
      out.push(...selectionList(selection.selectionSet, info, `${name}/`));
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      out.push(...selectionList(selection.selectionSet, info, prefix));
    } else {
      out.push(...selectionList(info.fragments[selection.name.value]?.selectionSet, info, prefix));
    }
  }
  return out;
}

/** The field names (not aliases) selected under a field, as nested sets; used to narrow published events. */
interface Selected {
  [field: string]: Selected;
}

function selectedFields(
  set: SelectionSetNode | undefined,
  info: GraphQLResolveInfo,
  into: Selected = {},
): Selected {
  for (const selection of set?.selections ?? []) {
    if (selection.kind === Kind.FIELD) {
      const name = selection.name.value;
      into[name] ??= {};
      selectedFields(selection.selectionSet, info, into[name]);
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      selectedFields(selection.selectionSet, info, into);
    } else {
      selectedFields(info.fragments[selection.name.value]?.selectionSet, info, into);
    }
  }
  return into;
}

/** Keeps only what the mutation selected: AppSync sends subscribers the mutation's selection. */
function narrow(value: unknown, selected: Selected): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => narrow(v, selected));
  if (Object.keys(selected).length === 0) return value;
  const out: Record<string, unknown> = {};
  for (const [name, sub] of Object.entries(selected)) {
    if (name.startsWith('__')) continue;
    out[name] = narrow((value as Record<string, unknown>)[name], sub);
  }
  return out;
}

interface ReachPlan {
  mutation: string;
  selected: string[];
  decidable: (field: string) => boolean;
}

/** Scalars whose response value is the input value as given (AWSJSON, say, is parsed on input). */
const SAME_AS_INPUT_SCALARS = new Set(['ID', 'String', 'Int', 'Float', 'Boolean']);

function subscribedMutations(schema: GraphQLSchema): Map<string, string[]> {
  const result = new Map<string, string[]>();
  const subscription = schema.getSubscriptionType();
  for (const field of Object.values(subscription?.getFields() ?? {})) {
    const directive = field.astNode?.directives?.find((d) => d.name.value === 'aws_subscribe');
    const arg = directive?.arguments?.find((a) => a.name.value === 'mutations');
    if (arg?.value.kind === Kind.LIST) {
      result.set(
        field.name,
        arg.value.values.flatMap((v) => (v.kind === Kind.STRING ? [v.value] : [])),
      );
    }
  }
  return result;
}

/**
 * The local AppSync: schema.graphql served with AppSync's auth directives, scalars, error shapes,
 * and the APPSYNC_JS resolvers from resolvers/ run against local data sources. Subscriptions fire on
 * the mutations named in `@aws_subscribe`, with the mutation's selection and AppSync's filtering.
 */
export class LocalAppSync {
  readonly schema: GraphQLSchema;
  readonly hub: EventHub;
  readonly #options: LocalAppSyncOptions;
  readonly #resolvers = new Map<string, LoadedResolver>();
  readonly #publishingMutations = new Set<string>();
  readonly #documents = new Map<string, DocumentNode>();
  readonly #reachPlans = new WeakMap<DocumentNode, ReachPlan | null>();
  readonly #selections = new WeakMap<
    FieldNode,
    { selectionSetList: string[]; selectionSetGraphQL: string }
  >();

  private constructor(options: LocalAppSyncOptions) {
    this.#options = options;
    this.hub = options.hub ?? new SubscriptionHub();
    this.schema = buildSchema(loadSchemaSource(options.repoRoot));
    installAwsScalars(this.schema);
  }

  static async create(options: LocalAppSyncOptions): Promise<LocalAppSync> {
    const appsync = new LocalAppSync(options);
    await appsync.#wire();
    return appsync;
  }

  async #wire(): Promise<void> {
    const { repoRoot, logger } = this.#options;
    const files = [...new Set(FIELD_RESOLVERS.map((r) => r.code))];
    await Promise.all(
      files.map(async (file) => {
        this.#resolvers.set(
          file,
          await loadResolver(join(repoRoot, file), { logger: logger.child({ resolver: file }) }),
        );
      }),
    );
    const subscriptions = subscribedMutations(this.schema);
    for (const mutations of subscriptions.values())
      for (const m of mutations) this.#publishingMutations.add(m);

    // Auth on every field of every object type, as AppSync checks each field it resolves.
    const defaultMode = this.#options.defaultAuthMode ?? 'API_KEY';
    for (const type of Object.values(this.schema.getTypeMap())) {
      if (!isObjectType(type) || type.name.startsWith('__')) continue;
      for (const field of Object.values(type.getFields())) {
        const allowed = allowedModes(type, field, defaultMode);
        const inner = field.resolve ?? defaultFieldResolver;
        field.resolve = (source, args, context: LocalRequestContext, info) => {
          if (!allowed.has(context.auth.mode)) throw unauthorizedError(field.name, type.name);
          return inner(source, args, context, info);
        };
      }
    }

    for (const config of FIELD_RESOLVERS) {
      const type = this.schema.getType(config.typeName);
      const field = type instanceof GraphQLObjectType ? type.getFields()[config.fieldName] : undefined;
      if (!field)
        throw new Error(
          `resolver-config names ${config.typeName}.${config.fieldName}, which schema.graphql lacks`,
        );
      const resolver = this.#resolvers.get(config.code)!;
      const allowed = allowedModes(type as GraphQLObjectType, field, defaultMode);
      if (config.typeName === 'Subscription') {
        const mutations = subscriptions.get(config.fieldName) ?? [];
        field.subscribe = async (_source, args, context: LocalRequestContext, info) => {
          if (!allowed.has(context.auth.mode)) throw unauthorizedError(field.name, config.typeName);
          const filter = await this.#runSubscriptionResolver(resolver, args, context, info);
          return this.hub.subscribe(mutations, filter ?? basicFilter(args));
        };
        field.resolve = (event: PublishedEvent, _args, context: LocalRequestContext) => {
          if (!allowed.has(context.auth.mode)) throw unauthorizedError(field.name, config.typeName);
          return event;
        };
      } else {
        field.resolve = async (source, args, context: LocalRequestContext, info) => {
          if (!allowed.has(context.auth.mode)) throw unauthorizedError(field.name, config.typeName);
          // A subscription event is the publishing mutation's response: resolvers of nested fields do
          // not run for it, and a field the mutation did not select arrives as null (as on AppSync).
          if (info.operation.operation === 'subscription') {
            return (source as Record<string, unknown> | null)?.[info.fieldName] ?? null;
          }
          const value = await this.#runUnit(config, resolver, source, args, context, info);
          if (
            config.typeName === 'Mutation' &&
            this.#publishingMutations.has(config.fieldName) &&
            value != null
          ) {
            const selected = selectedFields(info.fieldNodes[0]?.selectionSet, info);
            this.hub.publish(config.fieldName, narrow(value, selected) as PublishedEvent);
          }
          return value;
        };
      }
    }
  }

  #context(
    source: unknown,
    args: Record<string, unknown>,
    context: LocalRequestContext,
    info: GraphQLResolveInfo,
  ): ResolverContextInput {
    const fieldNode: FieldNode | undefined = info.fieldNodes[0];
    return {
      arguments: args,
      identity:
        context.auth.mode === 'AWS_IAM'
          ? {
              accountId: 'local',
              userArn: 'arn:aws:iam::local:role/publisher',
              username: 'publisher',
              sourceIp: ['127.0.0.1'],
            }
          : null,
      source: source ?? null,
      stash: {},
      prev: null,
      request: { headers: context.headers, domainName: null },
      info: {
        fieldName: info.fieldName,
        parentTypeName: info.parentType.name,
        variables: info.variableValues,
        ...this.#selectionOf(fieldNode, info),
      },
    };
  }

  /**
   * `selectionSetList` and `selectionSetGraphQL` of a field node. Documents are cached (the
   * publisher's mutation runs thousands of times a second), so their nodes are too; the fragments a
   * node's selection uses belong to the same document, so the node alone is a sound key.
   */
  #selectionOf(
    fieldNode: FieldNode | undefined,
    info: GraphQLResolveInfo,
  ): { selectionSetList: string[]; selectionSetGraphQL: string } {
    const compute = () => ({
      selectionSetList: selectionList(fieldNode?.selectionSet, info),
      selectionSetGraphQL: fieldNode?.selectionSet ? print(fieldNode.selectionSet) : '',
    });
    if (!fieldNode) return compute();
    let selection = this.#selections.get(fieldNode);
    if (!selection) {
      selection = compute();
      this.#selections.set(fieldNode, selection);
    }
    // Each resolver run gets its own list: resolver code may change what it is given.
    return {
      selectionSetList: [...selection.selectionSetList],
      selectionSetGraphQL: selection.selectionSetGraphQL,
    };
  }

  /** Throws the error a handler raised; keeps the ones it appended in `appended`. */
  #check(
    outcome: RunOutcome,
    appended: GraphQLError[],
    info: GraphQLResolveInfo,
  ): asserts outcome is Exclude<RunOutcome, ErrorOutcome> {
    for (const error of outcome.appendedErrors) {
      const { message, extensions } = errorFrom(error);
      appended.push(
        new GraphQLError(message, {
          nodes: info.fieldNodes,
          path: responsePathAsArray(info.path),
          extensions,
        }),
      );
    }
    if (outcome.kind === 'error') throw errorFrom(outcome.error);
  }

  async #runUnit(
    config: FieldResolver,
    resolver: LoadedResolver,
    source: unknown,
    args: Record<string, unknown>,
    context: LocalRequestContext,
    info: GraphQLResolveInfo,
  ): Promise<unknown> {
    const ctx = this.#context(source, args, context, info);
    const meta = { operation: info.operation.operation, authType: context.auth.mode } as const;
    const appended: GraphQLError[] = [];
    try {
      const request = resolver.run('request', ctx, meta);
      this.#check(request, appended, info);
      if (request.kind === 'earlyReturn') return request.value;
      let outcome: { result: unknown } | { error: { message: string; type: string } };
      if (config.dataSource === 'NONE') {
        const payload = (request.value as { payload?: unknown } | null)?.payload;
        outcome = { result: payload ?? null };
      } else {
        outcome = await this.#options.dataSources[config.dataSource](request.value);
      }
      const response = resolver.run(
        'response',
        {
          ...ctx,
          result: 'result' in outcome ? outcome.result : null,
          error: 'error' in outcome ? outcome.error : null,
        },
        meta,
      );
      this.#check(response, appended, info);
      return response.value;
    } finally {
      // Appended errors stand even when a handler then raises one (util.error): both are reported.
      if (appended.length > 0) (context.appendedErrors ??= []).push(...appended);
    }
  }

  async #runSubscriptionResolver(
    resolver: LoadedResolver,
    args: Record<string, unknown>,
    context: LocalRequestContext,
    info: GraphQLResolveInfo,
  ): Promise<EventFilter | undefined> {
    const ctx = this.#context(null, args, context, info);
    const meta = { operation: 'subscription', authType: context.auth.mode, isSubscription: true } as const;
    // A subscribe call has no result to carry appended errors; only a raised error refuses it.
    const request = resolver.run('request', ctx, meta);
    this.#check(request, [], info);
    const response = resolver.run('response', { ...ctx, result: null, error: null }, meta);
    this.#check(response, [], info);
    return response.subscriptionFilter ? enhancedFilter(response.subscriptionFilter) : undefined;
  }

  #document(query: string): DocumentNode {
    let document = this.#documents.get(query);
    if (!document) {
      document = parse(query);
      this.#documents.set(query, document);
    }
    return document;
  }

  /** Runs an operation in-process with the given auth (the local publisher uses IAM). */
  async execute(
    query: string,
    variables: Record<string, unknown>,
    context: LocalRequestContext,
  ): Promise<ExecutionResult> {
    const document = this.#document(query);
    const result = await execute({
      schema: this.schema,
      document,
      variableValues: variables,
      contextValue: context,
    });
    return withAppendedErrors(result, context);
  }

  /**
   * False when running the mutation `query` would reach no subscriber, given `response`: what its
   * resolver returns, as the caller knows it (publishTaskUpdate's resolver returns its input). The
   * event is the response narrowed to the mutation's selection, as publishing makes it. Filters are
   * judged only when they read selected top-level fields whose values an input and a response share
   * (IDs, strings, numbers, booleans, enums); a subscriber with any other filter counts as reached.
   * Lets the publisher skip running a mutation nobody would receive.
   */
  wouldReach(query: string, response: Record<string, unknown>): boolean {
    const document = this.#document(query);
    let plan = this.#reachPlans.get(document);
    if (plan === undefined) {
      plan = this.#reachPlan(document);
      this.#reachPlans.set(document, plan);
    }
    if (!plan) return true;
    const event: PublishedEvent = {};
    for (const name of plan.selected) event[name] = response[name];
    return this.hub.wouldAccept(plan.mutation, event, plan.decidable);
  }

  /**
   * What wouldReach needs of a document, or null when it cannot judge for it: not a mutation, more
   * than one root field, fragments or directives.
   */
  #reachPlan(document: DocumentNode): ReachPlan | null {
    const operation = document.definitions.find(
      (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION,
    );
    const field = operation?.selectionSet.selections[0];
    const mutationType = this.schema.getMutationType();
    if (operation?.operation !== 'mutation' || field?.kind !== Kind.FIELD || !mutationType) return null;
    // One root field, and no @skip or @include anywhere near it: anything else is not judged here.
    if (operation.selectionSet.selections.length !== 1 || operation.directives?.length) return null;
    if (field.directives?.length) return null;
    const returned = getNamedType(mutationType.getFields()[field.name.value]?.type);
    if (!(returned instanceof GraphQLObjectType)) return null;
    const selected: string[] = [];
    const shared = new Set<string>();
    for (const selection of field.selectionSet?.selections ?? []) {
      if (selection.kind !== Kind.FIELD || selection.directives?.length) return null;
      const name = selection.name.value;
      selected.push(name);
      const type = getNamedType(returned.getFields()[name]?.type);
      if (type instanceof GraphQLEnumType || (type && SAME_AS_INPUT_SCALARS.has(type.name))) shared.add(name);
    }
    return { mutation: field.name.value, selected, decidable: (path) => shared.has(path) };
  }

  /** The named type of a field, for tests and tools. */
  fieldTypeName(typeName: string, fieldName: string): string | undefined {
    const type = this.schema.getType(typeName);
    return type instanceof GraphQLObjectType
      ? getNamedType(type.getFields()[fieldName]?.type)?.name
      : undefined;
  }
}
