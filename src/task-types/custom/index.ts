import type { TaskTypeDefinition } from '../../domain/task-type.ts';
import { wordCountTaskType } from './word-count.ts';

/**
 * Your own task types: add each module here, and its name to `enum TaskType` in schema.graphql
 * (then `npm run codegen`). A test fails when the two lists differ.
 */
export const CUSTOM_TASK_TYPES: readonly TaskTypeDefinition[] = Object.freeze([
  wordCountTaskType as TaskTypeDefinition,
]);
