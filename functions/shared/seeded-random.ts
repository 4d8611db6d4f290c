/**
 * Deterministic pseudo-randomness shared by the trade simulator and the market simulators: the
 * same seed parts always draw the same sequence, on every machine.
 */

/** 32-bit hash of the parts (see {@link hashText}): a seed for {@link mulberry32}. */
export const hashSeed = (...parts: Array<string | number>) => hashText(parts.join('\u241f'))

/**
 * 32-bit hash of a text (cyrb53 mixing, folded). Not cryptographic, just well mixed and far
 * cheaper than sha256: the Alpaca simulator hashes several times per bar.
 */
export function hashText(text: string): number {
  let h1 = 0xdeadbeef
  let h2 = 0x41c6ce57
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    h1 = Math.imul(h1 ^ code, 2654435761)
    h2 = Math.imul(h2 ^ code, 1597334677)
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909)
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909)
  return (h1 ^ h2) >>> 0
}

/** mulberry32: a small, fast, well-mixed 32-bit generator; uniform values in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

/** A generator seeded by the parts: the same parts always give the same sequence. */
export const seededRandom = (...parts: Array<string | number>) => mulberry32(hashSeed(...parts))

export function pick<T>(random: () => number, items: readonly T[]): T {
  const item = items[Math.floor(random() * items.length)]
  if (item === undefined) throw new Error('cannot pick from an empty list')
  return item
}
