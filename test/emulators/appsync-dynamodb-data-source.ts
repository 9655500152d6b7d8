import { GetItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DataSource } from '../../src/appsync/local-appsync.ts';

/** A scalar key attribute as an APPSYNC_JS request object carries it: `N` may be a JSON number. */
type RequestKeyValue = { S: string } | { N: string | number } | { B: string };

/** The SDK form of a key attribute: N as a string, B (base64 in the request) as bytes. */
function toSdkKeyValue(name: string, value: RequestKeyValue): AttributeValue {
  if ('S' in value && typeof value.S === 'string') return { S: value.S };
  if ('N' in value && (typeof value.N === 'number' || typeof value.N === 'string'))
    return { N: String(value.N) };
  if ('B' in value && typeof value.B === 'string') return { B: Buffer.from(value.B, 'base64') };
  throw new Error(`key attribute ${name} is not an S, N or B attribute value: ${JSON.stringify(value)}`);
}

/**
 * What AppSync's DynamoDB data source does with a resolver's request object, done against a real
 * table (DynamoDB Local in the tests): GetItem becomes a GetItemCommand and its item comes back
 * unmarshalled as `ctx.result` (null when there is none); a failing call comes back as `ctx.error`
 * typed `DynamoDB:<exception name>`. Only the operations the resolvers use are mapped; any other is
 * refused, as the local tasks table data source refuses it.
 */
export function appSyncDynamoDbDataSource(client: DynamoDBClient, tableName: string): DataSource {
  return async (request) => {
    const r = request as {
      operation?: string;
      key?: Record<string, RequestKeyValue>;
      consistentRead?: boolean;
    };
    if (r?.operation !== 'GetItem') {
      return {
        error: { message: `operation ${String(r?.operation)} is not mapped`, type: 'DynamoDB:Unmapped' },
      };
    }
    try {
      const key = Object.fromEntries(
        Object.entries(r.key ?? {}).map(([name, value]) => [name, toSdkKeyValue(name, value)]),
      );
      const { Item } = await client.send(
        new GetItemCommand({ TableName: tableName, Key: key, ConsistentRead: r.consistentRead === true }),
      );
      return { result: Item ? unmarshall(Item) : null };
    } catch (error) {
      const { name, message } = error as Error;
      return { error: { message, type: `DynamoDB:${name}` } };
    }
  };
}
