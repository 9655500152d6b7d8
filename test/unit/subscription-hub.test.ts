import { describe, expect, it } from 'vitest';
import {
  SubscriptionHub,
  basicFilter,
  enhancedFilter,
  filterFromSpec,
  type PublishedEvent,
} from '../../src/appsync/subscription-hub.ts';

const M = 'publishTaskUpdate';

async function first(iterator: AsyncIterableIterator<PublishedEvent>): Promise<unknown> {
  try {
    return (await iterator.next()).value;
  } catch (error) {
    return error;
  }
}

describe('SubscriptionHub', () => {
  it('ends a subscription whose filter cannot be evaluated, with the reason, and still serves the others', async () => {
    const hub = new SubscriptionHub();
    const broken = await hub.subscribe(
      [M],
      Object.assign(
        () => {
          throw new Error('no such operator');
        },
        { fields: ['status'], spec: { kind: 'basic', args: {} } as const },
      ),
    );
    const working = await hub.subscribe([M], basicFilter({ status: 'SUCCEEDED' }));

    expect(() => hub.publish(M, { id: 'a', status: 'SUCCEEDED' })).not.toThrow();

    expect(await first(working)).toEqual({ id: 'a', status: 'SUCCEEDED' });
    const error = await first(broken);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe("the subscription's filter cannot be evaluated: no such operator");
    expect(hub.size).toBe(1);
  });

  it('ends a waiting subscription as soon as its filter fails', async () => {
    const hub = new SubscriptionHub();
    const broken = await hub.subscribe(
      [M],
      enhancedFilter({
        filterGroup: [{ filters: [{ fieldName: 'status', operator: 'nope' as never, value: 1 }] }],
      }),
    );
    const waiting = first(broken);

    hub.publish(M, { status: 'RUNNING' });

    expect(((await waiting) as Error).message).toMatch(/cannot be evaluated: .*"nope"/);
  });

  it('does not keep a subscriber whose registration elsewhere failed', async () => {
    const hub = new SubscriptionHub();
    hub.onSubscribersChange(() => {
      throw new Error('could not copy the filter to the publisher thread');
    });

    expect(() => hub.subscribe([M], basicFilter({}))).toThrow(/could not copy the filter/);
    expect(hub.size).toBe(0);
  });

  it('tells its listener of subscribers added and gone, as data another thread can rebuild filters from', async () => {
    const hub = new SubscriptionHub();
    const changes: unknown[] = [];
    hub.onSubscribersChange((change) => void changes.push(change));
    const filter = {
      filterGroup: [{ filters: [{ fieldName: 'progress', operator: 'gt' as const, value: 50 }] }],
    };

    const iterator = await hub.subscribe([M], enhancedFilter(filter));
    await iterator.return!();

    expect(changes).toEqual([
      { added: { id: 1, mutations: [M], filter: { kind: 'enhanced', filter } } },
      { removed: 1 },
    ]);
    const rebuilt = filterFromSpec({ kind: 'enhanced', filter });
    expect([rebuilt({ progress: 60 }), rebuilt({ progress: 40 })]).toEqual([true, false]);
  });
});

describe('enhanced filter containsAny', () => {
  const filter = enhancedFilter({
    filterGroup: [{ filters: [{ fieldName: 'tags', operator: 'containsAny', value: ['a', 'b'] }] }],
  });

  it('accepts a list or a string field that holds any of the values', () => {
    expect(filter({ tags: ['x', 'b'] })).toBe(true);
    expect(filter({ tags: 'cab' })).toBe(true);
    expect(filter({ tags: ['x', 'y'] })).toBe(false);
    expect(filter({ tags: null })).toBe(false);
  });
});
