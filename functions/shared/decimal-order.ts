/**
 * Order of decimal strings without converting them: no binary floating point (which would
 * round prices beyond 15-17 digits) and no big.js object per comparison (the bar contract
 * compares four prices of every record on the consumers' decode path, held to 3x JSON.parse).
 */

/** A non-negative decimal written out in full: digits, optionally a point and more digits. */
export const PLAIN_DECIMAL = /^\d+(\.\d+)?$/

const ZERO = 48

/** Index of the decimal point, or the length when there is none. */
function pointOf(text: string): number {
  const point = text.indexOf('.')
  return point < 0 ? text.length : point
}

/** Index of the first integer digit that is not a leading zero (the point's index for `0.x`). */
function significantFrom(text: string, point: number): number {
  let i = 0
  while (i < point && text.charCodeAt(i) === ZERO) i++
  return i
}

/**
 * Compares two {@link PLAIN_DECIMAL} strings by value, like a sort comparator: negative when
 * `a < b`, zero when equal (`1.50` = `01.5`), positive when `a > b`. Other strings give an
 * unspecified order: callers check the form first (the contract's field patterns do).
 */
export function compareDecimals(a: string, b: string): number {
  const aPoint = pointOf(a)
  const bPoint = pointOf(b)
  const aFrom = significantFrom(a, aPoint)
  const bFrom = significantFrom(b, bPoint)
  // More integer digits (leading zeros aside) is the larger number.
  const lengths = aPoint - aFrom - (bPoint - bFrom)
  if (lengths !== 0) return lengths
  for (let i = aFrom, j = bFrom; i < aPoint; i++, j++) {
    const digit = a.charCodeAt(i) - b.charCodeAt(j)
    if (digit !== 0) return digit
  }
  // Fractions digit by digit, the shorter one padded with zeros.
  const fractionDigits = Math.max(a.length - aPoint, b.length - bPoint) - 1
  for (let k = 1; k <= fractionDigits; k++) {
    const digit =
      (aPoint + k < a.length ? a.charCodeAt(aPoint + k) : ZERO) -
      (bPoint + k < b.length ? b.charCodeAt(bPoint + k) : ZERO)
    if (digit !== 0) return digit
  }
  return 0
}
