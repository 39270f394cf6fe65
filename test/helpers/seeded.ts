/**
 * A fixed-seed generator (xorshift32) for generated test cases: the same sequence every run.
 * `next(n)` is an integer in [0, n).
 */
export function seededRandom(seed: number): (n: number) => number {
  let state = seed;
  return (n) => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % n;
  };
}
