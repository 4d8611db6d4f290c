import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../functions/shared/seeded-random.ts'
import { cpfCheckDigits, formatCpf, generateCpf, isValidCpf } from '../../functions/simulate-trades/cpf.ts'

describe('cpfCheckDigits', () => {
  // 529.982.247-25, by hand:
  //   5*10 + 2*9 + 9*8 + 9*7 + 8*6 + 2*5 + 2*4 + 4*3 + 7*2 = 295; 295 mod 11 = 9 -> 11 - 9 = 2
  //   5*11 + 2*10 + 9*9 + 9*8 + 8*7 + 2*6 + 2*5 + 4*4 + 7*3 + 2*2 = 347; 347 mod 11 = 6 -> 5
  it('computes both mod-11 check digits', () => {
    expect(cpfCheckDigits('529982247')).toBe('25')
  })

  // 111.444.777-35: 162 mod 11 = 8 -> 3; 204 mod 11 = 6 -> 5
  it('computes another hand-checked number', () => {
    expect(cpfCheckDigits('111444777')).toBe('35')
  })

  // 000.000.040-06: 4*3 = 12, 12 mod 11 = 1 (< 2) -> 0; 4*4 + 0*2 = 16, 16 mod 11 = 5 -> 6
  it('gives 0 when the remainder is below 2', () => {
    expect(cpfCheckDigits('000000040')).toBe('06')
  })

  // 100.000.000-19: 1*10 = 10 -> 1; 1*11 + 1*2 = 13, 13 mod 11 = 2 -> 9
  it('handles a remainder of 10 (check digit 1)', () => {
    expect(cpfCheckDigits('100000000')).toBe('19')
  })

  it('refuses a base that is not nine digits', () => {
    expect(() => cpfCheckDigits('12345678')).toThrow(/nine digits/)
    expect(() => cpfCheckDigits('12345678a')).toThrow(/nine digits/)
  })
})

describe('isValidCpf', () => {
  it('accepts valid numbers, bare or formatted', () => {
    for (const cpf of ['52998224725', '11144477735', '00000004006', '10000000019', '529.982.247-25'])
      expect(isValidCpf(cpf), cpf).toBe(true)
  })

  it('rejects a wrong check digit', () => {
    expect(isValidCpf('52998224724')).toBe(false)
    expect(isValidCpf('52998224735')).toBe(false)
    expect(isValidCpf('11144477734')).toBe(false)
  })

  it('rejects repeated digits even though they pass the arithmetic', () => {
    expect(isValidCpf('11111111111')).toBe(false)
    expect(isValidCpf('00000000000')).toBe(false)
  })

  it('rejects wrong lengths and shapes', () => {
    for (const cpf of ['5299822472', '529982247250', '529.982.24725', '52998224a25', '', '529-982-247.25'])
      expect(isValidCpf(cpf), cpf).toBe(false)
  })
})

describe('formatCpf', () => {
  it('formats 11 digits as 000.000.000-00', () => {
    expect(formatCpf('52998224725')).toBe('529.982.247-25')
  })
})

describe('generateCpf', () => {
  it('generates valid 11-digit numbers', () => {
    const random = seededRandom('cpf-test')
    for (let i = 0; i < 1000; i++) {
      const cpf = generateCpf(random)
      expect(cpf).toMatch(/^\d{11}$/)
      expect(isValidCpf(cpf), cpf).toBe(true)
    }
  })

  it('never returns a repeated-digit number, even when the generator insists', () => {
    // The first nine draws give 0.0 (base 000000000, refused); then 0.25 x 9 (base 222222222,
    // refused); then a real base 123456789.
    const draws = [
      ...Array(9).fill(0),
      ...Array(9).fill(0.25),
      ...'123456789'.split('').map((d) => Number(d) / 10 + 0.01),
    ]
    let i = 0
    const cpf = generateCpf(() => draws[i++] ?? 0)
    // 123456789: 1*10+2*9+3*8+4*7+5*6+6*5+7*4+8*3+9*2 = 210, 210 mod 11 = 1 -> 0;
    // 1*11+2*10+3*9+4*8+5*7+6*6+7*5+8*4+9*3+0*2 = 255, 255 mod 11 = 2 -> 9
    expect(cpf).toBe('12345678909')
  })
})
