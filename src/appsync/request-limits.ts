import {
  GraphQLError,
  Kind,
  Lexer,
  Source,
  TokenKind,
  getNamedType,
  getOperationAST,
  isInputObjectType,
  isInputType,
  isListType,
  isNonNullType,
  parse,
  specifiedRules,
  typeFromAST,
  validate,
  type ASTNode,
  type DocumentNode,
  type GraphQLInputType,
  type GraphQLSchema,
  type SelectionSetNode,
  type ValidationRule,
} from 'graphql';

/**
 * The GraphQL request limits of the local server (values and reasons: `LIMITS` in src/domain/limits.ts).
 * Every check here runs before a resolver does, on HTTP and on WebSocket alike, and none of them recurses
 * deeper than the document's own nesting, which is checked first.
 */
export interface RequestLimits {
  maxQueryDepth: number;
  maxAliases: number;
  maxTokens: number;
  maxDocumentNesting: number;
  maxJsonDepth: number;
}

/** The errorType of a request refused for its size or shape rather than for what it asks. */
export const QUERY_TOO_COMPLEX = 'QueryTooComplexError';

const AWS_JSON = 'AWSJSON';

function tooComplex(
  message: string,
  info: { limit: keyof RequestLimits; max: number; actual?: number },
  nodes?: readonly ASTNode[],
): GraphQLError {
  return new GraphQLError(message, {
    ...(nodes ? { nodes } : {}),
    extensions: { errorType: QUERY_TOO_COMPLEX, errorInfo: info },
  });
}

/** Thousands separators, so "20,003 levels" reads at a glance. */
function count(n: number): string {
  return n.toLocaleString('en-US');
}

/**
 * Counts tokens and bracket nesting with graphql-js' own lexer (strings, block strings and comments are
 * single tokens or skipped, exactly as the parser sees them), stopping at the first limit passed. The
 * lexer is a loop, so this is safe for any input; the recursive parser only sees documents that passed.
 * A lexical error ends the scan silently: `parse` reports it with its position.
 */
export function documentSizeError(source: string, limits: RequestLimits): GraphQLError | undefined {
  const lexer = new Lexer(new Source(source));
  let tokens = 0;
  let nesting = 0;
  try {
    for (let token = lexer.advance(); token.kind !== TokenKind.EOF; token = lexer.advance()) {
      tokens += 1;
      if (tokens > limits.maxTokens) {
        return tooComplex(
          `The query has more than ${count(limits.maxTokens)} tokens (names, punctuation and values); at most ${count(limits.maxTokens)} are allowed. Split it into several requests.`,
          { limit: 'maxTokens', max: limits.maxTokens },
        );
      }
      if (
        token.kind === TokenKind.BRACE_L ||
        token.kind === TokenKind.BRACKET_L ||
        token.kind === TokenKind.PAREN_L
      ) {
        nesting += 1;
        if (nesting > limits.maxDocumentNesting) {
          return tooComplex(
            `The query nests brackets ({, [ or () more than ${count(limits.maxDocumentNesting)} levels deep (line ${token.line}); at most ${count(limits.maxDocumentNesting)} are allowed. Ask for fewer nested fields, and pass deeply nested values as AWSJSON variables.`,
            { limit: 'maxDocumentNesting', max: limits.maxDocumentNesting },
          );
        }
      } else if (
        token.kind === TokenKind.BRACE_R ||
        token.kind === TokenKind.BRACKET_R ||
        token.kind === TokenKind.PAREN_R
      ) {
        nesting -= 1;
      }
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/** `parse` behind the size checks. Throws a GraphQLError: QueryTooComplexError, or a syntax error. */
export function parseWithLimits(source: string, limits: RequestLimits): DocumentNode {
  const refused = documentSizeError(source, limits);
  if (refused) throw refused;
  return parse(source, { maxTokens: limits.maxTokens });
}

/**
 * Field nesting per operation, following fragment spreads (each fragment's depth computed once, so a
 * fragment spread many times costs nothing extra). Introspection counts like any other field, as AppSync
 * counts it. A fragment cycle counts as nothing here: NoFragmentCyclesRule reports it.
 */
function maxQueryDepthRule(max: number): ValidationRule {
  return function MaxQueryDepthRule(context) {
    const fragmentDepths = new Map<string, number>();
    const depthOf = (set: SelectionSetNode | undefined, visiting: Set<string>): number => {
      let deepest = 0;
      for (const selection of set?.selections ?? []) {
        if (selection.kind === Kind.FIELD) {
          deepest = Math.max(deepest, 1 + depthOf(selection.selectionSet, visiting));
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          deepest = Math.max(deepest, depthOf(selection.selectionSet, visiting));
        } else {
          const name = selection.name.value;
          if (visiting.has(name)) continue;
          let depth = fragmentDepths.get(name);
          if (depth === undefined) {
            visiting.add(name);
            depth = depthOf(context.getFragment(name)?.selectionSet, visiting);
            visiting.delete(name);
            fragmentDepths.set(name, depth);
          }
          deepest = Math.max(deepest, depth);
        }
      }
      return deepest;
    };
    return {
      OperationDefinition(operation) {
        const depth = depthOf(operation.selectionSet, new Set());
        if (depth > max) {
          const name = operation.name ? ` ${operation.name.value}` : '';
          context.reportError(
            tooComplex(
              `The query${name} is ${count(depth)} levels deep; at most ${count(max)} are allowed. Ask for fewer nested fields, or split the query.`,
              { limit: 'maxQueryDepth', max, actual: depth },
              [operation],
            ),
          );
        }
        return false;
      },
    };
  };
}

/**
 * Aliases written in the document. Counting the written ones is enough: a fragment spread twice in one
 * selection merges into one set of fields, so spreading cannot multiply resolver runs without more aliases.
 */
function maxAliasesRule(max: number): ValidationRule {
  return function MaxAliasesRule(context) {
    let aliases = 0;
    return {
      Field(field) {
        if (field.alias) aliases += 1;
      },
      Document: {
        leave(document) {
          if (aliases > max) {
            context.reportError(
              tooComplex(
                `The query uses ${count(aliases)} aliases; at most ${count(max)} are allowed. Ask for each field once, or send several requests (submitTasks takes up to 25 tasks per call).`,
                { limit: 'maxAliases', max, actual: aliases },
                [document],
              ),
            );
          }
        },
      },
    };
  };
}

/**
 * How deep arrays and objects nest in a JSON text, by one pass over its characters (no parse, no
 * recursion). Brackets inside strings do not count. Text that is not JSON gets a number too; the
 * AWSJSON scalar reports the syntax error afterwards.
 */
export function jsonNestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i += 1;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      depth += 1;
      if (depth > deepest) deepest = depth;
    } else if (c === 0x7d || c === 0x5d) {
      depth -= 1;
    }
  }
  return deepest;
}

function jsonTooDeep(path: string, depth: number, max: number, nodes?: readonly ASTNode[]): GraphQLError {
  const message = `is nested ${count(depth)} levels deep; at most ${count(max)} levels of arrays and objects are allowed. Flatten the data, or upload it with createUploadUrl and pass its key.`;
  return new GraphQLError(`${path}: ${message}`, {
    ...(nodes ? { nodes } : {}),
    extensions: { errorType: 'ValidationError', errorInfo: { issues: [{ path, message }] } },
  });
}

/**
 * Where a literal sits under its argument, e.g. `inputs[2].payload`, from the visitor's ancestors (which
 * stop before the parent) and the parent.
 */
function literalPath(
  ancestors: ReadonlyArray<ASTNode | ReadonlyArray<ASTNode>>,
  parent: ASTNode | ReadonlyArray<ASTNode> | undefined,
  node: ASTNode,
): string {
  const chain = [...ancestors, ...(parent ? [parent] : []), node];
  let path = '';
  chain.forEach((item, index) => {
    if (Array.isArray(item)) return;
    const current = item as ASTNode;
    if (current.kind === Kind.ARGUMENT) path = current.name.value;
    else if (current.kind === Kind.VARIABLE_DEFINITION) path = `$${current.variable.name.value}`;
    else if (current.kind === Kind.OBJECT_FIELD) path += `.${current.name.value}`;
    else if (current.kind === Kind.LIST) {
      const element = chain.slice(index + 1).find((next) => !Array.isArray(next)) as ASTNode | undefined;
      const at = element ? current.values.indexOf(element as never) : -1;
      if (at >= 0) path += `[${at}]`;
    }
  });
  return path || 'argument';
}

/** AWSJSON written inline in the document (`payload: "{…}"`): checked during validation. */
function awsJsonLiteralDepthRule(max: number): ValidationRule {
  return function MaxAwsJsonLiteralDepthRule(context) {
    return {
      StringValue(node, _key, parent, _path, ancestors) {
        const type = context.getInputType();
        if (!type || getNamedType(type).name !== AWS_JSON) return;
        const depth = jsonNestingDepth(node.value);
        if (depth > max)
          context.reportError(jsonTooDeep(literalPath(ancestors, parent, node), depth, max, [node]));
      },
    };
  };
}

/** The rules the limits add to graphql-js' own; each is named, as yoga's validation cache keys by name. */
export function requestLimitRules(limits: RequestLimits): ValidationRule[] {
  return [
    maxQueryDepthRule(limits.maxQueryDepth),
    maxAliasesRule(limits.maxAliases),
    awsJsonLiteralDepthRule(limits.maxJsonDepth),
  ];
}

/**
 * AWSJSON passed in variables, found by walking each variable's declared input type beside its value, so
 * only AWSJSON positions are measured and the walk goes no deeper than the types do, however deep the
 * value. Runs before execution, i.e. before the AWSJSON scalar parses anything.
 */
export function awsJsonVariableErrors(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Readonly<Record<string, unknown>> | null | undefined,
  maxDepth: number,
): GraphQLError[] {
  const operation = getOperationAST(document, operationName ?? undefined);
  if (!operation || !variables) return [];
  const errors: GraphQLError[] = [];
  const walk = (value: unknown, type: GraphQLInputType, path: string): void => {
    if (value === null || value === undefined) return;
    if (isNonNullType(type)) {
      walk(value, type.ofType, path);
    } else if (isListType(type)) {
      if (Array.isArray(value)) value.forEach((item, i) => walk(item, type.ofType, `${path}[${i}]`));
      else walk(value, type.ofType, path);
    } else if (isInputObjectType(type)) {
      if (typeof value !== 'object' || Array.isArray(value)) return;
      for (const field of Object.values(type.getFields())) {
        walk((value as Record<string, unknown>)[field.name], field.type, `${path}.${field.name}`);
      }
    } else if (type.name === AWS_JSON && typeof value === 'string') {
      const depth = jsonNestingDepth(value);
      if (depth > maxDepth) errors.push(jsonTooDeep(path, depth, maxDepth));
    }
  };
  for (const definition of operation.variableDefinitions ?? []) {
    const type = typeFromAST(schema, definition.type);
    if (!type || !isInputType(type)) continue;
    const name = definition.variable.name.value;
    walk(variables[name], type, `$${name}`);
  }
  return errors;
}

/**
 * The whole check for a transport that parses and validates by itself (graphql-ws): a parsed, valid
 * document, or the errors to send back. HTTP goes through yoga's hooks instead (src/local/server.ts).
 */
export function checkRequest(
  schema: GraphQLSchema,
  request: { query: string; variables?: Record<string, unknown> | null; operationName?: string | null },
  limits: RequestLimits,
  rules: readonly ValidationRule[] = requestLimitRules(limits),
): { document: DocumentNode } | { errors: GraphQLError[] } {
  let document: DocumentNode;
  try {
    document = parseWithLimits(request.query, limits);
  } catch (error) {
    if (error instanceof GraphQLError) return { errors: [error] };
    throw error;
  }
  const invalid = validate(schema, document, [...specifiedRules, ...rules]);
  if (invalid.length > 0) return { errors: [...invalid] };
  const deep = awsJsonVariableErrors(
    schema,
    document,
    request.operationName,
    request.variables,
    limits.maxJsonDepth,
  );
  return deep.length > 0 ? { errors: deep } : { document };
}
