import { GraphQLError, GraphQLScalarType, Kind, type GraphQLSchema, type ValueNode } from 'graphql';

/**
 * AppSync's scalars as the local runtime enforces them. Input errors read like AppSync's
 * ("Validation error of type WrongType: …"); outputs are serialized as AppSync does.
 */

function literalString(ast: ValueNode, scalar: string): string {
  if (ast.kind !== Kind.STRING) {
    throw new GraphQLError(`Validation error of type WrongType: a ${scalar} must be given as a string.`);
  }
  return ast.value;
}

function parseJsonInput(value: unknown): unknown {
  if (typeof value !== 'string') {
    throw new GraphQLError(
      'Validation error of type WrongType: an AWSJSON value must be a JSON string, e.g. "{\\"a\\":1}".',
    );
  }
  try {
    return JSON.parse(value);
  } catch (error) {
    throw new GraphQLError(`Validation error of type WrongType: not valid JSON: ${(error as Error).message}`);
  }
}

// YYYY-MM-DDThh:mm(:ss(.s+)?)?(Z|±hh:mm(:ss)?) — the offset is required, seconds and fractions are not.
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}(:\d{2})?)$/;

function checkDateTime(value: unknown): string {
  if (typeof value !== 'string' || !DATE_TIME.test(value) || Number.isNaN(Date.parse(value.slice(0, 19)))) {
    throw new GraphQLError(
      `Validation error of type WrongType: ${JSON.stringify(value)} is not a valid 'AWSDateTime' (e.g. 2026-01-31T12:00:00.000Z).`,
    );
  }
  return value;
}

const IMPLEMENTATIONS: Record<string, Partial<GraphQLScalarType>> = {
  AWSJSON: {
    serialize: (value) => (typeof value === 'string' ? value : JSON.stringify(value)),
    parseValue: parseJsonInput,
    parseLiteral: (ast) => parseJsonInput(literalString(ast, 'AWSJSON')),
  },
  AWSDateTime: {
    serialize: (value) => (value instanceof Date ? value.toISOString() : value),
    parseValue: checkDateTime,
    parseLiteral: (ast) => checkDateTime(literalString(ast, 'AWSDateTime')),
  },
};

/** Gives the declared AWS scalars their behaviour. Scalars without an entry keep String-like behaviour. */
export function installAwsScalars(schema: GraphQLSchema): void {
  for (const [name, implementation] of Object.entries(IMPLEMENTATIONS)) {
    const type = schema.getType(name);
    if (type instanceof GraphQLScalarType) Object.assign(type, implementation);
  }
}
