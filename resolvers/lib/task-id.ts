// One definition of a task id for the resolvers and the Lambda; esbuild bundles the constant in.
export { TASK_ID_PATTERN } from '../../src/domain/task-id.ts';
