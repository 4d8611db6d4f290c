/**
 * The simulated traders: a stable population drawn from a seed. User `u-000042` is the same
 * person (name, e-mail, CPF) in every run, every container and every machine with the same
 * seed, and growing the population only appends users: each user is drawn from its own
 * generator, seeded by (seed, number), and uniqueness of e-mails and CPFs depends only on the
 * users before it.
 */

import { pick, seededRandom } from '../shared/seeded-random.ts'
import { generateCpf } from './cpf.ts'

export interface SimUser {
  /** `u-NNNNNN`, 1-based. */
  user_id: string
  user_name: string
  user_email: string
  /** A valid CPF, 11 digits. */
  document_id: string
}

// Common Brazilian given names and surnames (IBGE lists), accents as written.
const FIRST_NAMES = [
  'Maria',
  'Ana',
  'Francisca',
  'Antônia',
  'Adriana',
  'Juliana',
  'Márcia',
  'Fernanda',
  'Patrícia',
  'Aline',
  'Sandra',
  'Camila',
  'Amanda',
  'Bruna',
  'Jéssica',
  'Letícia',
  'Júlia',
  'Beatriz',
  'Larissa',
  'Gabriela',
  'José',
  'João',
  'Antônio',
  'Francisco',
  'Carlos',
  'Paulo',
  'Pedro',
  'Lucas',
  'Luiz',
  'Marcos',
  'Luís',
  'Gabriel',
  'Rafael',
  'Daniel',
  'Marcelo',
  'Bruno',
  'Eduardo',
  'Felipe',
  'Raimundo',
  'Rodrigo',
  'Thiago',
  'Matheus',
  'Gustavo',
  'Vinícius',
  'Leonardo',
  'Caio',
  'Heloísa',
  'Lívia',
  'Cecília',
  'Sebastião',
] as const
const SURNAMES = [
  'Silva',
  'Santos',
  'Oliveira',
  'Souza',
  'Rodrigues',
  'Ferreira',
  'Alves',
  'Pereira',
  'Lima',
  'Gomes',
  'Costa',
  'Ribeiro',
  'Martins',
  'Carvalho',
  'Almeida',
  'Lopes',
  'Soares',
  'Fernandes',
  'Vieira',
  'Barbosa',
  'Rocha',
  'Dias',
  'Nascimento',
  'Andrade',
  'Moreira',
  'Nunes',
  'Marques',
  'Machado',
  'Mendes',
  'Freitas',
  'Cardoso',
  'Ramos',
  'Gonçalves',
  'Santana',
  'Teixeira',
  'Araújo',
  'Conceição',
  'Melo',
  'Castro',
  'Monteiro',
] as const
/** Reserved example domains (RFC 2606 and the .br equivalent): the addresses can never reach anyone. */
const EMAIL_DOMAINS = ['example.com.br', 'example.com', 'example.net', 'example.org'] as const

/** `Antônia Gonçalves` -> `antonia.goncalves`: e-mail local parts are plain ASCII. */
export function emailLocalPart(name: string): string {
  return name
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^a-z]+/g, '.')
    .replace(/^\.+|\.+$/g, '')
}

export const userId = (number: number) => `u-${String(number).padStart(6, '0')}`

/**
 * The first `size` users of the population of `seed`. Names are a given name and one or two
 * surnames; e-mails are `given.surname@domain`, with the user number appended when taken; CPFs
 * are valid and distinct.
 */
export function buildPopulation(size: number, seed: string): SimUser[] {
  if (!Number.isInteger(size) || size < 1 || size > 999_999)
    throw new Error('population size must be 1..999999')
  const users: SimUser[] = []
  const emails = new Set<string>()
  const cpfs = new Set<string>()
  for (let number = 1; number <= size; number++) {
    const random = seededRandom(seed, 'user', number)
    const first = pick(random, FIRST_NAMES)
    const surnames =
      random() < 0.6 ? [pick(random, SURNAMES), pick(random, SURNAMES)] : [pick(random, SURNAMES)]
    if (surnames.length === 2 && surnames[0] === surnames[1]) surnames.pop()
    const name = [first, ...surnames].join(' ')
    const domain = pick(random, EMAIL_DOMAINS)
    const base = emailLocalPart(`${first} ${surnames.at(-1)}`)
    let email = `${base}@${domain}`
    if (emails.has(email)) email = `${base}.${number}@${domain}`
    emails.add(email)
    let cpf = generateCpf(random)
    while (cpfs.has(cpf)) cpf = generateCpf(random)
    cpfs.add(cpf)
    users.push({ user_id: userId(number), user_name: name, user_email: email, document_id: cpf })
  }
  return users
}
