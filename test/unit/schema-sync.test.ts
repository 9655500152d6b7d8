import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  GraphQLEnumType,
  GraphQLInputObjectType,
  GraphQLObjectType,
  Kind,
  buildSchema,
  coerceInputValue,
  getNamedType,
  parse,
  validate,
  type FieldNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import type {
  Task as GeneratedTask,
  TaskStatus as GeneratedTaskStatus,
  TaskType as GeneratedTaskType,
} from '../../src/generated/graphql.ts';
import type { Task as DomainTask } from '../../src/domain/task.ts';
import { ALL_STATUSES, type TaskStatus as DomainTaskStatus } from '../../src/domain/task-status.ts';
import { BUILT_IN_TASK_TYPES } from '../../src/task-types/built-in.ts';
import {
  PUBLISH_TASK_UPDATE_MUTATION,
  publishVariables,
} from '../../src/handlers/publish-task-update-document.ts';
import { updateFromTask } from '../../src/handlers/publish-updates.ts';
import { LOCAL_SETTINGS } from '../../src/config/local-config.ts';
import { makeTask } from '../helpers/contract-fixtures.ts';

const root = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));

const schema = buildSchema(
  readFileSync(root('src/appsync/appsync-declarations.graphql'), 'utf8') +
    '\n' +
    readFileSync(root('schema.graphql'), 'utf8'),
);

function enumValues(name: string): string[] {
  const type = schema.getType(name);
  if (!(type instanceof GraphQLEnumType)) throw new Error(`${name} is not an enum`);
  return type.getValues().map((v) => v.name);
}

function objectType(name: string): GraphQLObjectType {
  const type = schema.getType(name);
  if (!(type instanceof GraphQLObjectType)) throw new Error(`${name} is not an object type`);
  return type;
}

function inputType(name: string): GraphQLInputObjectType {
  const type = schema.getType(name);
  if (!(type instanceof GraphQLInputObjectType)) throw new Error(`${name} is not an input type`);
  return type;
}

// Compile-time drift checks: `npm run typecheck` fails when the domain and the generated types part.
type Equal<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const statusesAgree: [GeneratedTaskStatus] extends [DomainTaskStatus]
  ? [DomainTaskStatus] extends [GeneratedTaskStatus]
    ? true
    : never
  : never = true;
/** Task fields resolved on read rather than stored (Task.outputs has its own resolver). */
type ResolvedTaskFields = '__typename' | 'outputs';
const taskKeysAgree: Equal<keyof DomainTask, Exclude<keyof GeneratedTask, ResolvedTaskFields>> = true;
// The domain keeps `type` a plain string (task types are registered at run time); with a known
// type name it is a generated Task, and a generated Task is always a domain Task.
function domainToGenerated(
  task: DomainTask & { type: GeneratedTaskType },
): Omit<GeneratedTask, ResolvedTaskFields> {
  return task;
}
function generatedToDomain(task: Omit<GeneratedTask, ResolvedTaskFields>): DomainTask {
  return task;
}

describe('schema.graphql and the code agree', () => {
  it('has the domain TaskStatus values as the GraphQL TaskStatus enum', () => {
    expect(statusesAgree).toBe(true);

    expect([...enumValues('TaskStatus')].sort()).toEqual([...ALL_STATUSES].sort());
  });

  it('has the registered task type names (built-in and your own) as the GraphQL TaskType enum', () => {
    const names = BUILT_IN_TASK_TYPES.map((t) => t.name);

    expect([...names].sort()).toEqual(enumValues('TaskType').sort());
    expect(new Set(names).size).toBe(names.length);
  });

  it('has the domain Task fields as the GraphQL Task fields', () => {
    const task = makeTask({ type: 'SEND_EMAIL' });

    expect(taskKeysAgree).toBe(true);
    expect(generatedToDomain(domainToGenerated({ ...task, type: 'SEND_EMAIL' }))).toEqual(task);
    expect(Object.keys(task).sort()).toEqual(
      Object.keys(objectType('Task').getFields())
        .filter((f) => f !== 'outputs')
        .sort(),
    );
  });

  describe('the publishTaskUpdate mutation document', () => {
    const document = parse(PUBLISH_TASK_UPDATE_MUTATION);
    const operation = document.definitions[0] as OperationDefinitionNode;
    const publishField = operation.selectionSet.selections[0] as FieldNode;

    function fieldsOf(selectionSet: SelectionSetNode | undefined): FieldNode[] {
      return (selectionSet?.selections ?? []).filter((s): s is FieldNode => s.kind === Kind.FIELD);
    }

    /** Field paths of `type` that `selectionSet` leaves out, walking into object fields. */
    function missing(
      type: GraphQLObjectType,
      selectionSet: SelectionSetNode | undefined,
      prefix = '',
    ): string[] {
      const selected = new Map(fieldsOf(selectionSet).map((f) => [f.name.value, f]));
      return Object.values(type.getFields()).flatMap((field) => {
        const node = selected.get(field.name);
        if (!node) return [`${prefix}${field.name}`];
        const named = getNamedType(field.type);
        return named instanceof GraphQLObjectType
          ? missing(named, node.selectionSet, `${prefix}${field.name}.`)
          : [];
      });
    }

    it('validates against the schema', () => {
      expect(validate(schema, document)).toEqual([]);
      expect(document.definitions).toHaveLength(1);
      expect(publishField.name.value).toBe('publishTaskUpdate');
    });

    it('selects every field of Task, nested TaskError fields included, except payload and outputs', () => {
      expect(missing(objectType('Task'), publishField.selectionSet).sort()).toEqual(['outputs', 'payload']);
    });

    it('has a TaskUpdateInput field of the matching type for each selected Task field, and no other', () => {
      const taskFields = objectType('Task').getFields();
      const inputFields = inputType('TaskUpdateInput').getFields();
      const selected = fieldsOf(publishField.selectionSet).map((f) => f.name.value);

      const mismatches = selected.flatMap((name) => {
        const want = String(taskFields[name]!.type).replace('TaskError', 'TaskErrorInput');
        const have = inputFields[name] ? String(inputFields[name].type) : 'nothing';
        return want === have ? [] : [`${name}: Task has ${want}, TaskUpdateInput has ${have}`];
      });

      expect(mismatches).toEqual([]);
      expect(Object.keys(inputFields).sort()).toEqual([...selected].sort());
    });

    it('has a TaskErrorInput field of the matching type for each TaskError field', () => {
      const outFields = objectType('TaskError').getFields();
      const inFields = inputType('TaskErrorInput').getFields();

      expect(Object.fromEntries(Object.values(inFields).map((f) => [f.name, String(f.type)]))).toEqual(
        Object.fromEntries(Object.values(outFields).map((f) => [f.name, String(f.type)])),
      );
    });

    it('gets variables from a domain task that TaskUpdateInput accepts', () => {
      const task = makeTask({
        error: { code: 'TIMEOUT', message: 'slow', retryable: true, attempt: 2 },
        result: '{"ok":true}',
        resultSize: 11,
      });
      const errors: string[] = [];

      const { input } = publishVariables(updateFromTask(task));
      coerceInputValue(input, inputType('TaskUpdateInput'), (path, _value, error) => {
        errors.push(`${path.join('.')}: ${error.message}`);
      });

      expect(errors).toEqual([]);
    });
  });

  it('lists every local setting in .env.example as KEY=', () => {
    const example = readFileSync(root('.env.example'), 'utf8');

    const absent = Object.keys(LOCAL_SETTINGS).filter((key) => !new RegExp(`^${key}=`, 'm').test(example));

    expect(absent).toEqual([]);
  });
});
