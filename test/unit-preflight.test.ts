import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MIN_KERNEL, oldKernelHint } from '../receiver/src/preflight';

describe('a program refused on an old kernel: the load error gets a version hint', () => {
  it('older than the minimum: names the kernel, the minimum and why', () => {
    for (const release of ['5.11.0-46-generic', '5.4.0-150-generic', '4.19.0-27-amd64']) {
      const hint = oldKernelHint(release);
      assert.ok(hint, release);
      assert.match(hint, new RegExp(`this kernel is ${release.replace(/\./g, '\\.')}`));
      assert.match(hint, new RegExp(`Linux ${MIN_KERNEL.join('\\.')}`));
      assert.match(hint, /compare-and-swap/);
    }
  });

  it('the minimum or newer, or an unparsable release: no hint (the verifier log says why)', () => {
    for (const release of ['5.12.0', '5.15.0-91-generic', '6.18.44-fc-v1300', '10.0.0', 'weird']) {
      assert.equal(oldKernelHint(release), undefined, release);
    }
  });
});
