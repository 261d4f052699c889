/**
 * Unit tests for the fault list and per-key mutex shared by the storage rigs (faults.ts).
 */
import assert from 'node:assert/strict';
import {FaultList, KeyedMutex} from './faults.js';

const q = new URLSearchParams();

describe('test rig: fault rules and keyed mutex', function () {
  describe('FaultList', function () {
    it('matches method (case-insensitive), path and predicate, first rule first, for `times` requests', function () {
      const faults = new FaultList();
      const put = faults.add({method: 'put', path: /^\/b\/lock$/, times: 2, status: 503, code: 'SlowDown'});
      const tagging = faults.add({when: (query) => query.has('tagging'), mode: 'lose-response'});

      assert.equal(faults.take('GET', '/b/lock', q, {}), undefined);
      assert.equal(faults.take('PUT', '/b/other', q, {}), undefined);
      assert.deepEqual(faults.take('PUT', '/b/lock', q, {}),
        {mode: 'error', status: 503, code: 'SlowDown', message: undefined, headers: {}});
      assert.equal(faults.take('PUT', '/b/lock', q, {})?.status, 503);
      assert.equal(faults.take('PUT', '/b/lock', q, {}), undefined);
      assert.equal(put.hits, 2);
      assert.equal(put.remaining, 0);

      assert.equal(faults.take('GET', '/b', new URLSearchParams('tagging='), {})?.mode, 'lose-response');
      assert.equal(tagging.hits, 1);
      assert.equal(faults.pending, 0);
    });

    it('supports unbounded rules, cancel() and clear()', function () {
      const faults = new FaultList();
      const always = faults.add({times: Infinity});
      for (let i = 0; i < 5; i++) assert.ok(faults.take('GET', '/', q, {}));
      assert.equal(always.remaining, Infinity);
      always.cancel();
      assert.equal(faults.take('GET', '/', q, {}), undefined);
      faults.add({});
      faults.add({});
      faults.clear();
      assert.equal(faults.pending, 0);
      assert.throws(() => faults.add({times: 0}), RangeError);
    });
  });

  describe('KeyedMutex', function () {
    it('runs work for one key strictly in order and different keys concurrently', async function () {
      const mutex = new KeyedMutex();
      const log: string[] = [];
      let releaseA!: () => void;
      const gateA = new Promise<void>((r) => (releaseA = r));
      const a1 = mutex.run('a', async () => {
        log.push('a1 start');
        await gateA;
        log.push('a1 end');
      });
      const a2 = mutex.run('a', async () => {
        log.push('a2');
      });
      const b1 = mutex.run('b', async () => {
        log.push('b1');
      });
      await b1;
      assert.deepEqual(log, ['a1 start', 'b1']);
      releaseA();
      await Promise.all([a1, a2]);
      assert.deepEqual(log, ['a1 start', 'b1', 'a1 end', 'a2']);
    });

    it('releases the key when the work throws', async function () {
      const mutex = new KeyedMutex();
      await assert.rejects(mutex.run('k', async () => {
        throw new Error('boom');
      }), /boom/);
      assert.equal(await mutex.run('k', async () => 'next'), 'next');
    });
  });
});
