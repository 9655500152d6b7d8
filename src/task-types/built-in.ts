import type { TaskTypeDefinition } from '../domain/task-type.ts';
import { imageResizeTaskType } from './image-resize.ts';
import { processDataTaskType } from './process-data/task-type.ts';
import { sendEmailTaskType } from './send-email.ts';

/** The task types that ship with the queue. */
export const BUILT_IN_TASK_TYPES: readonly TaskTypeDefinition[] = Object.freeze([
  imageResizeTaskType as TaskTypeDefinition,
  sendEmailTaskType as TaskTypeDefinition,
  processDataTaskType as TaskTypeDefinition,
]);
