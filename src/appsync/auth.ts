import { GraphQLError, type GraphQLField, type GraphQLObjectType } from 'graphql';

/** The auth modes the local runtime serves: API keys for apps, IAM for the in-process publisher. */
export type AuthMode = 'API_KEY' | 'AWS_IAM';

const DIRECTIVE_MODES: Record<string, string> = {
  aws_api_key: 'API_KEY',
  aws_iam: 'AWS_IAM',
  aws_oidc: 'OPENID_CONNECT',
  aws_cognito_user_pools: 'AMAZON_COGNITO_USER_POOLS',
  aws_lambda: 'AWS_LAMBDA',
};

function modesOf(directives: readonly { name: { value: string } }[] | undefined): string[] {
  return (directives ?? [])
    .map((d) => DIRECTIVE_MODES[d.name.value])
    .filter((m): m is string => m !== undefined);
}

/**
 * The auth modes allowed on a field, resolved as AppSync does: the field's own auth directives
 * replace its type's; with none on either, only the API's default mode is allowed.
 */
export function allowedModes(
  type: GraphQLObjectType,
  field: GraphQLField<unknown, unknown>,
  defaultMode: AuthMode,
): ReadonlySet<string> {
  const own = modesOf(field.astNode?.directives);
  if (own.length > 0) return new Set(own);
  const inherited = modesOf(type.astNode?.directives);
  return new Set(inherited.length > 0 ? inherited : [defaultMode]);
}

/** AppSync's field-level denial: HTTP 200, the field null, errorType Unauthorized. */
export function unauthorizedError(fieldName: string, typeName: string): GraphQLError {
  return new GraphQLError(`Not Authorized to access ${fieldName} on type ${typeName}`, {
    extensions: { errorType: 'Unauthorized' },
  });
}
