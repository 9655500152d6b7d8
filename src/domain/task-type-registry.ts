import type { z } from 'zod';
import { ConfigurationError, ValidationError, type ValidationIssue } from './errors.ts';
import type { TaskTypeDefinition } from './task-type.ts';

/** Maps zod issues to our issues, prefixed with where the value sat in the request. */
export function issuesFromZod(error: z.ZodError, prefix: string): ValidationIssue[] {
  return error.issues.map((issue) => ({
    path: [prefix, ...issue.path.map(String)].filter((p) => p !== '').join('.'),
    message: issue.message,
  }));
}

/**
 * The task types this deployment runs, by name. Submitting validates against it, the processor
 * dispatches through it. Names must match the GraphQL `TaskType` enum (a test checks it).
 */
export class TaskTypeRegistry {
  readonly #types = new Map<string, TaskTypeDefinition>();

  constructor(definitions: readonly TaskTypeDefinition[]) {
    for (const definition of definitions) {
      if (this.#types.has(definition.name)) {
        throw new ConfigurationError(`Task type ${definition.name} is registered twice.`);
      }
      this.#types.set(definition.name, definition);
    }
  }

  names(): string[] {
    return [...this.#types.keys()];
  }

  get(name: string): TaskTypeDefinition | undefined {
    return this.#types.get(name);
  }

  require(name: string, path = 'type'): TaskTypeDefinition {
    const definition = this.#types.get(name);
    if (!definition) {
      throw ValidationError.single(
        path,
        `unknown task type "${name}"; known types: ${this.names().join(', ')}`,
      );
    }
    return definition;
  }

  /** Parses and validates a payload; throws ValidationError with paths under `path`. */
  parsePayload(name: string, payload: unknown, path = 'payload'): unknown {
    const definition = this.require(name);
    const parsed = definition.payloadSchema.safeParse(payload);
    if (!parsed.success) {
      throw new ValidationError(issuesFromZod(parsed.error, path));
    }
    return parsed.data;
  }
}
