import type { SubscriptionFilter } from './js-runtime/subscription-filter.ts';

/** A published mutation response, narrowed to what the mutation selected. */
export type PublishedEvent = Record<string, unknown>;

/** A subscription's filter, and the event fields (dotted paths) it reads. */
export type EventFilter = ((event: PublishedEvent) => boolean) & { readonly fields: readonly string[] };

interface Subscriber {
  mutations: ReadonlySet<string>;
  accepts: EventFilter;
  push: (event: PublishedEvent) => void;
}

/** Most events a slow subscriber may have waiting; past it the subscription ends with an error. */
const MAX_BUFFERED_EVENTS = 10_000;

/**
 * Fans mutation responses out to subscriptions, as AppSync does for `@aws_subscribe`. Filtering is
 * AppSync's: basic (each given argument equals the response field of the same name, an explicit
 * null included) unless the subscription resolver set an enhanced filter.
 */
export class SubscriptionHub {
  readonly #subscribers = new Set<Subscriber>();

  get size(): number {
    return this.#subscribers.size;
  }

  /**
   * False when no subscriber of `mutation` would accept `event`, judged only by filters that read
   * `decidable` fields alone; a subscriber with any other filter counts as accepting.
   */
  wouldAccept(mutation: string, event: PublishedEvent, decidable: (field: string) => boolean): boolean {
    for (const s of this.#subscribers) {
      if (!s.mutations.has(mutation)) continue;
      if (!s.accepts.fields.every(decidable)) return true;
      try {
        if (s.accepts(event)) return true;
      } catch {
        // A filter that cannot be evaluated: let the publish itself report it.
        return true;
      }
    }
    return false;
  }

  publish(mutation: string, event: PublishedEvent): void {
    for (const subscriber of this.#subscribers) {
      if (subscriber.mutations.has(mutation) && subscriber.accepts(event)) subscriber.push(event);
    }
  }

  subscribe(mutations: readonly string[], accepts: EventFilter): AsyncIterableIterator<PublishedEvent> {
    const buffer: PublishedEvent[] = [];
    let waiting: ((result: IteratorResult<PublishedEvent>) => void) | undefined;
    let failed: Error | undefined;
    let done = false;
    const subscriber: Subscriber = {
      mutations: new Set(mutations),
      accepts,
      push: (event) => {
        if (waiting) {
          const resolve = waiting;
          waiting = undefined;
          resolve({ value: event, done: false });
        } else if (buffer.length >= MAX_BUFFERED_EVENTS) {
          failed = new Error(
            `subscriber fell ${MAX_BUFFERED_EVENTS} events behind; subscribe again and query for the current state`,
          );
          this.#subscribers.delete(subscriber);
        } else {
          buffer.push(event);
        }
      },
    };
    this.#subscribers.add(subscriber);
    const finish = (): Promise<IteratorResult<PublishedEvent>> => {
      done = true;
      this.#subscribers.delete(subscriber);
      if (waiting) waiting({ value: undefined, done: true });
      waiting = undefined;
      return Promise.resolve({ value: undefined, done: true });
    };
    return {
      next: () => {
        const event = buffer.shift();
        if (event) return Promise.resolve({ value: event, done: false });
        if (failed) return Promise.reject(failed);
        if (done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          waiting = resolve;
        });
      },
      return: finish,
      throw: (error: unknown) => {
        void finish();
        return Promise.reject(error);
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }
}

/** Basic filtering: every argument the subscriber gave must equal the event's field. */
export function basicFilter(args: Record<string, unknown>): EventFilter {
  const entries = Object.entries(args);
  return Object.assign(
    (event: PublishedEvent) => entries.every(([name, value]) => (event[name] ?? null) === value),
    { fields: Object.keys(args) },
  );
}

function fieldValue(event: PublishedEvent, path: string): unknown {
  let value: unknown = event;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function matchRule(actual: unknown, operator: string, expected: unknown): boolean {
  switch (operator) {
    case 'eq':
      return actual === expected;
    case 'ne':
      return actual !== expected;
    case 'lt':
      return typeof actual === typeof expected && (actual as number) < (expected as number);
    case 'le':
      return typeof actual === typeof expected && (actual as number) <= (expected as number);
    case 'gt':
      return typeof actual === typeof expected && (actual as number) > (expected as number);
    case 'ge':
      return typeof actual === typeof expected && (actual as number) >= (expected as number);
    case 'contains':
      return Array.isArray(actual) || typeof actual === 'string' ? actual.includes(expected as never) : false;
    case 'notContains':
      return Array.isArray(actual) || typeof actual === 'string' ? !actual.includes(expected as never) : true;
    case 'beginsWith':
      return typeof actual === 'string' && typeof expected === 'string' && actual.startsWith(expected);
    case 'in':
      return Array.isArray(expected) && expected.includes(actual);
    case 'notIn':
      return Array.isArray(expected) && !expected.includes(actual);
    case 'between':
      return (
        Array.isArray(expected) &&
        typeof actual === typeof expected[0] &&
        (actual as number) >= (expected[0] as number) &&
        (actual as number) <= (expected[1] as number)
      );
    default:
      throw new Error(`the local runtime cannot evaluate subscription filter operator "${operator}"`);
  }
}

/** Enhanced filtering: filters in a group are ORed, the rules inside a filter ANDed. */
export function enhancedFilter(filter: SubscriptionFilter): EventFilter {
  return Object.assign(
    (event: PublishedEvent) =>
      filter.filterGroup.some((group) =>
        group.filters.every((rule) =>
          matchRule(fieldValue(event, rule.fieldName), rule.operator, rule.value),
        ),
      ),
    { fields: filter.filterGroup.flatMap((group) => group.filters.map((rule) => rule.fieldName)) },
  );
}
