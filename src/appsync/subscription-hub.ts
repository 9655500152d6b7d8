import type { SubscriptionFilter } from './js-runtime/subscription-filter.ts';

/** A published mutation response, narrowed to what the mutation selected. */
export type PublishedEvent = Record<string, unknown>;

/** What a filter was made from, as data: another thread can build the same filter from it. */
export type FilterSpec =
  { kind: 'basic'; args: Record<string, unknown> } | { kind: 'enhanced'; filter: SubscriptionFilter };

/** A subscription's filter, the event fields (dotted paths) it reads, and what it was made from. */
export type EventFilter = ((event: PublishedEvent) => boolean) & {
  readonly fields: readonly string[];
  readonly spec: FilterSpec;
};

/** A subscriber as data: which mutations it takes, and its filter's spec. */
export interface SubscriberSpec {
  id: number;
  mutations: readonly string[];
  filter: FilterSpec;
}

/** A subscriber added, or the id of one gone. */
export type SubscribersChange = { added: SubscriberSpec } | { removed: number };

/**
 * Told of every subscriber added or gone. A subscription starts only once the promise it returns has
 * settled, so a mirror of the subscribers elsewhere knows of it before its subscriber is answered.
 */
export type SubscribersListener = (change: SubscribersChange) => Promise<void> | void;

interface Subscriber {
  id: number;
  mutations: ReadonlySet<string>;
  accepts: EventFilter;
  push: (event: PublishedEvent) => void;
  /** Ends the subscription with `error`, after the events it has waiting. */
  fail: (error: Error) => void;
}

/** What LocalAppSync needs of a hub: the API thread's SubscriptionHub, or a publisher thread's mirror. */
export interface EventHub {
  readonly size: number;
  wouldAccept(mutation: string, event: PublishedEvent, decidable: (field: string) => boolean): boolean;
  publish(mutation: string, event: PublishedEvent): void;
  /** Resolves once the subscription is registered everywhere events are judged. */
  subscribe(
    mutations: readonly string[],
    accepts: EventFilter,
  ): AsyncIterableIterator<PublishedEvent> | Promise<AsyncIterableIterator<PublishedEvent>>;
}

/**
 * False when no subscriber of `mutation` would accept `event`, judged only by filters that read
 * `decidable` fields alone; a subscriber with any other filter counts as accepting.
 */
function anyWouldAccept(
  subscribers: Iterable<Pick<Subscriber, 'mutations' | 'accepts'>>,
  mutation: string,
  event: PublishedEvent,
  decidable: (field: string) => boolean,
): boolean {
  for (const s of subscribers) {
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

/** Most events a slow subscriber may have waiting; past it the subscription ends with an error. */
const MAX_BUFFERED_EVENTS = 10_000;

/**
 * Fans mutation responses out to subscriptions, as AppSync does for `@aws_subscribe`. Filtering is
 * AppSync's: basic (each given argument equals the response field of the same name, an explicit
 * null included) unless the subscription resolver set an enhanced filter.
 */
export class SubscriptionHub implements EventHub {
  readonly #subscribers = new Set<Subscriber>();
  #nextId = 1;
  #listener: SubscribersListener | undefined;

  get size(): number {
    return this.#subscribers.size;
  }

  /** Sets the one listener told of every subscriber added or gone (see SubscribersListener). */
  onSubscribersChange(listener: SubscribersListener): void {
    this.#listener = listener;
  }

  /** Every current subscriber as data. */
  specs(): SubscriberSpec[] {
    return [...this.#subscribers].map(specOf);
  }

  wouldAccept(mutation: string, event: PublishedEvent, decidable: (field: string) => boolean): boolean {
    return anyWouldAccept(this.#subscribers, mutation, event, decidable);
  }

  /**
   * Hands `event` to every subscriber of `mutation` whose filter accepts it. A filter that cannot be
   * evaluated ends its own subscription with the reason; the other subscribers still get the event.
   */
  publish(mutation: string, event: PublishedEvent): void {
    for (const subscriber of this.#subscribers) {
      if (!subscriber.mutations.has(mutation)) continue;
      let accepted: boolean;
      try {
        accepted = subscriber.accepts(event);
      } catch (error) {
        subscriber.fail(
          new Error(`the subscription's filter cannot be evaluated: ${(error as Error).message}`),
        );
        continue;
      }
      if (accepted) subscriber.push(event);
    }
  }

  subscribe(
    mutations: readonly string[],
    accepts: EventFilter,
  ): AsyncIterableIterator<PublishedEvent> | Promise<AsyncIterableIterator<PublishedEvent>> {
    const buffer: PublishedEvent[] = [];
    let waiting:
      | { resolve: (result: IteratorResult<PublishedEvent>) => void; reject: (error: Error) => void }
      | undefined;
    let failed: Error | undefined;
    let done = false;
    const subscriber: Subscriber = {
      id: this.#nextId++,
      mutations: new Set(mutations),
      accepts,
      push: (event) => {
        if (waiting) {
          const { resolve } = waiting;
          waiting = undefined;
          resolve({ value: event, done: false });
        } else if (buffer.length >= MAX_BUFFERED_EVENTS) {
          subscriber.fail(
            new Error(
              `subscriber fell ${MAX_BUFFERED_EVENTS} events behind; subscribe again and query for the current state`,
            ),
          );
        } else {
          buffer.push(event);
        }
      },
      fail: (error) => {
        failed ??= error;
        this.#remove(subscriber);
        if (waiting) {
          const { reject } = waiting;
          waiting = undefined;
          reject(error);
        }
      },
    };
    this.#subscribers.add(subscriber);
    const finish = (): Promise<IteratorResult<PublishedEvent>> => {
      done = true;
      this.#remove(subscriber);
      if (waiting) waiting.resolve({ value: undefined, done: true });
      waiting = undefined;
      return Promise.resolve({ value: undefined, done: true });
    };
    const iterator: AsyncIterableIterator<PublishedEvent> = {
      next: () => {
        const event = buffer.shift();
        if (event) return Promise.resolve({ value: event, done: false });
        if (failed) return Promise.reject(failed);
        if (done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => {
          waiting = { resolve, reject };
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
    let told: Promise<void> | void;
    try {
      told = this.#listener?.({ added: specOf(subscriber) });
    } catch (error) {
      // Not registered everywhere events are judged: no subscription at all.
      this.#subscribers.delete(subscriber);
      throw error;
    }
    return told ? told.then(() => iterator) : iterator;
  }

  #remove(subscriber: Subscriber): void {
    if (!this.#subscribers.delete(subscriber)) return;
    void this.#listener?.({ removed: subscriber.id });
  }
}

function specOf(subscriber: Subscriber): SubscriberSpec {
  return { id: subscriber.id, mutations: [...subscriber.mutations], filter: subscriber.accepts.spec };
}

/**
 * The subscribers of another thread's hub, as data, for judging there whether an event would reach
 * anyone (wouldAccept). It serves no subscription itself: `publish` hands events to `deliver`, which
 * sends them to the thread that holds the subscribers.
 */
export class MirroredSubscriptionHub implements EventHub {
  readonly #subscribers = new Map<number, Pick<Subscriber, 'mutations' | 'accepts'>>();
  readonly #deliver: (mutation: string, event: PublishedEvent) => void;

  constructor(deliver: (mutation: string, event: PublishedEvent) => void) {
    this.#deliver = deliver;
  }

  get size(): number {
    return this.#subscribers.size;
  }

  apply(change: SubscribersChange): void {
    if ('added' in change) {
      const { id, mutations, filter } = change.added;
      this.#subscribers.set(id, { mutations: new Set(mutations), accepts: filterFromSpec(filter) });
    } else {
      this.#subscribers.delete(change.removed);
    }
  }

  wouldAccept(mutation: string, event: PublishedEvent, decidable: (field: string) => boolean): boolean {
    return anyWouldAccept(this.#subscribers.values(), mutation, event, decidable);
  }

  publish(mutation: string, event: PublishedEvent): void {
    this.#deliver(mutation, event);
  }

  subscribe(): never {
    throw new Error('subscriptions are served by the API thread, not by a mirror of its subscribers');
  }
}

/** Builds the filter a spec describes. */
export function filterFromSpec(spec: FilterSpec): EventFilter {
  return spec.kind === 'basic' ? basicFilter(spec.args) : enhancedFilter(spec.filter);
}

/** Basic filtering: every argument the subscriber gave must equal the event's field. */
export function basicFilter(args: Record<string, unknown>): EventFilter {
  const entries = Object.entries(args);
  return Object.assign(
    (event: PublishedEvent) => entries.every(([name, value]) => (event[name] ?? null) === value),
    { fields: Object.keys(args), spec: { kind: 'basic', args } as const },
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
    case 'containsAny':
      return (
        Array.isArray(expected) &&
        (Array.isArray(actual) || typeof actual === 'string') &&
        expected.some((value) => actual.includes(value as never))
      );
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
    {
      fields: filter.filterGroup.flatMap((group) => group.filters.map((rule) => rule.fieldName)),
      spec: { kind: 'enhanced', filter } as const,
    },
  );
}
