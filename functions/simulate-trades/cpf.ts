/**
 * Brazilian CPF numbers (Cadastro de Pessoas Físicas): nine base digits and two check digits,
 * each computed mod 11 over the digits before it with descending weights (10..2, then 11..2);
 * a remainder below 2 gives 0, otherwise 11 - remainder. Numbers made of one repeated digit
 * pass that arithmetic but are not valid CPFs.
 */

const ONLY_DIGITS = /^\d{11}$/
const FORMATTED = /^\d{3}\.\d{3}\.\d{3}-\d{2}$/

/** The check digit of `digits` (9 or 10 of them), weights descending from digits.length + 1 to 2. */
function checkDigit(digits: string): number {
  let sum = 0
  for (let i = 0; i < digits.length; i++) sum += Number(digits[i]) * (digits.length + 1 - i)
  const remainder = sum % 11
  return remainder < 2 ? 0 : 11 - remainder
}

/** The two check digits of a nine-digit base, as text (`'529982247'` -> `'25'`). */
export function cpfCheckDigits(base: string): string {
  if (!/^\d{9}$/.test(base)) throw new Error(`a CPF base is nine digits, got ${JSON.stringify(base)}`)
  const first = checkDigit(base)
  const second = checkDigit(`${base}${first}`)
  return `${first}${second}`
}

/** Whether `text` is a valid CPF, as 11 digits or formatted `000.000.000-00`. */
export function isValidCpf(text: string): boolean {
  if (!ONLY_DIGITS.test(text) && !FORMATTED.test(text)) return false
  const digits = text.replace(/\D/g, '')
  if (/^(\d)\1{10}$/.test(digits)) return false
  return cpfCheckDigits(digits.slice(0, 9)) === digits.slice(9)
}

/** `52998224725` -> `529.982.247-25`. */
export function formatCpf(digits: string): string {
  if (!ONLY_DIGITS.test(digits)) throw new Error('a CPF has 11 digits')
  return `${digits.slice(0, 3)}.${digits.slice(3, 6)}.${digits.slice(6, 9)}-${digits.slice(9)}`
}

/** A valid CPF (11 digits, unformatted) drawn from `random` (uniform in [0, 1)). */
export function generateCpf(random: () => number): string {
  for (;;) {
    let base = ''
    for (let i = 0; i < 9; i++) base += String(Math.floor(random() * 10))
    if (/^(\d)\1{8}$/.test(base)) continue
    return `${base}${cpfCheckDigits(base)}`
  }
}
