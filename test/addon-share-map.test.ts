/**
 * BpfObject.shareMap: two objects' programs using one kernel map (how the
 * bash probe adds shells to the exec probe's `followed` map). Real objects,
 * real kernel maps.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { BpfError, BpfObject } from '../addon/lib/index';

const PROC = path.resolve(__dirname, '../../build/bpf/proc.bpf.o');
const BASH = path.resolve(__dirname, '../../build/bpf/bash.bpf.o');

const key = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

describe('BpfObject.shareMap', () => {
  it('a map shared before load is the same kernel map in both objects; either can close first', () => {
    const owner = BpfObject.open(PROC);
    const user = BpfObject.open(BASH);
    try {
      owner.load();
      user.shareMap('followed', owner);
      user.load();
      user.map('followed').update(key(4242), Buffer.from([1]));
      assert.deepEqual(owner.map('followed').lookup(key(4242)), Buffer.from([1]));
      owner.close();
      // The user's reference keeps the map alive.
      assert.deepEqual(user.map('followed').lookup(key(4242)), Buffer.from([1]));
    } finally {
      owner.close();
      user.close();
    }
  });

  it('refuses clearly: after load, from an object not loaded yet, an unknown map, twice the same object', () => {
    const a = BpfObject.open(PROC);
    const b = BpfObject.open(BASH);
    try {
      assert.throws(() => b.shareMap('followed', a), (err: unknown) => err instanceof BpfError && /load\(\) first/.test(err.message));
      a.load();
      assert.throws(() => b.shareMap('no_such_map', a), BpfError);
      assert.throws(() => a.shareMap('followed', a), (err: unknown) => err instanceof BpfError && /before load/.test(err.message));
    } finally {
      a.close();
      b.close();
    }
  });
});
