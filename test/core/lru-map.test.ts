import { expect } from 'chai';
import fc from 'fast-check';
import { LruMap } from '../../src/core/lru-map.js';

describe('LruMap', () => {
  it('refuses a capacity below 2', () => {
    expect(() => new LruMap(1)).to.throw(RangeError);
    expect(() => new LruMap(2.5)).to.throw(RangeError);
  });

  it('never holds more than its capacity, whatever is set', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 40 }), fc.array(fc.integer({ min: 0, max: 100 }), { maxLength: 400 }), (capacity, keys) => {
        const map = new LruMap<number, number>(capacity);
        for (const key of keys) {
          map.set(key, key * 2);
          expect(map.size).to.be.at.most(capacity);
          expect(map.get(key)).to.equal(key * 2);
        }
      }),
    );
  });

  it('keeps the capacity/2 most recently used keys, gets and sets alike', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 30 }),
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 60 })), { maxLength: 300 }),
        (capacity, operations) => {
          const map = new LruMap<number, string>(capacity);
          const stored = new Map<number, string>();
          const recency: number[] = [];
          const touch = (key: number) => {
            const at = recency.indexOf(key);
            if (at >= 0) recency.splice(at, 1);
            recency.push(key);
          };
          for (const [isSet, key] of operations) {
            if (isSet) {
              map.set(key, `v${key}`);
              stored.set(key, `v${key}`);
              touch(key);
            } else {
              const value = map.get(key);
              if (value !== undefined) {
                expect(value).to.equal(stored.get(key));
                touch(key);
              }
            }
          }
          for (const key of recency.slice(-Math.floor(capacity / 2))) expect(map.has(key), `key ${key}`).to.equal(true);
        },
      ),
    );
  });

  it('forgets deleted and cleared keys in either generation', () => {
    const map = new LruMap<string, number>(4);
    map.set('a', 1);
    map.set('b', 2);
    map.set('c', 3); // a and b now age in the old generation
    expect(map.delete('a')).to.equal(true);
    expect(map.delete('c')).to.equal(true);
    expect(map.delete('c')).to.equal(false);
    expect(map.has('a')).to.equal(false);
    expect(map.get('b')).to.equal(2);
    map.clear();
    expect(map.size).to.equal(0);
    expect(map.get('b')).to.equal(undefined);
  });

  it('a value set again replaces the one ageing in the old generation', () => {
    const map = new LruMap<string, number>(4);
    map.set('a', 1);
    map.set('b', 2);
    map.set('c', 3);
    map.set('a', 10);
    expect(map.get('a')).to.equal(10);
    expect(map.size).to.equal(3);
  });
});
