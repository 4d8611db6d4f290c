/**
 * The one CloudFormation template toolkit of the repository: the template's types, the readers of
 * its intrinsic functions (`Ref`, `Fn::GetAtt`, `Fn::Sub`), the naming serverless uses for a
 * function's resources, and the YAML schema that reads the short tags (`!Ref`, `!GetAtt`,
 * `!Sub`...) as their long forms. The local runtime, the lake's state machines, the cost model, the
 * benchmarks and the contract tests all read templates through it, so they cannot disagree about
 * what a reference points at.
 */
import { parse, type Tags } from 'yaml'

export interface CfnResource {
  Type: string
  Properties?: Record<string, unknown>
  DependsOn?: string | string[]
  Condition?: string
  DeletionPolicy?: string
  UpdateReplacePolicy?: string
  Metadata?: Record<string, unknown>
}

export interface CfnTemplate {
  Resources: Record<string, CfnResource>
  Parameters?: Record<string, { Type: string; Default?: unknown; AllowedValues?: unknown[] }>
  Conditions?: Record<string, unknown>
  Outputs?: Record<string, { Value: unknown }>
}

export const asArray = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value]

export function resourcesOfType(template: CfnTemplate, type: string): Array<[string, CfnResource]> {
  return Object.entries(template.Resources).filter(([, resource]) => resource.Type === type)
}

/** The logical id a `{ Ref }` names, else undefined. */
export function refOf(value: unknown): string | undefined {
  if (value && typeof value === 'object' && 'Ref' in value && typeof value.Ref === 'string') return value.Ref
  return undefined
}

/** `[logicalId, attribute]` of a `{ "Fn::GetAtt": [...] }` (list or dotted string), else undefined. */
export function getAttOf(value: unknown): [string, string] | undefined {
  if (!value || typeof value !== 'object' || !('Fn::GetAtt' in value)) return undefined
  const target = value['Fn::GetAtt']
  if (Array.isArray(target) && target.length === 2) return [String(target[0]), String(target[1])]
  if (typeof target === 'string') {
    const [id, ...attribute] = target.split('.')
    return [id ?? '', attribute.join('.')]
  }
  return undefined
}

/** The resource a `Ref` or a `Fn::GetAtt` points at, else undefined. */
export function referencedResource(value: unknown): string | undefined {
  return refOf(value) ?? getAttOf(value)?.[0]
}

/**
 * The text of an `Fn::Sub` with each `${Name}` or `${Name.Attribute}` replaced by `valueFor(name)`;
 * `${!Literal}` is CloudFormation's escape and becomes `${Literal}`.
 */
export function substitute(text: string, valueFor: (name: string) => string): string {
  return text.replace(/\$\{(!?)([\w:.]+)\}/g, (_match, literal: string, name: string) =>
    literal ? `\${${name}}` : valueFor(name),
  )
}

const LAMBDA_SUFFIX = 'LambdaFunction'

/** serverless names a function's resource `<Name>LambdaFunction`: `PollBarsLambdaFunction` -> `pollBars`. */
export function functionKeyOf(logicalId: string): string | undefined {
  const name = logicalId.endsWith(LAMBDA_SUFFIX) ? logicalId.slice(0, -LAMBDA_SUFFIX.length) : ''
  return name ? name.charAt(0).toLowerCase() + name.slice(1) : undefined
}

/** `pollBars` -> `PollBarsLambdaFunction`. */
export function functionLogicalId(name: string): string {
  return `${name.charAt(0).toUpperCase()}${name.slice(1)}${LAMBDA_SUFFIX}`
}

/** The short-form tags that take a sequence; the rest take a scalar (`!GetAtt` takes both). */
const SEQUENCE_TAGS = ['Join', 'Select', 'Split', 'If', 'Equals', 'Not', 'And', 'Or', 'FindInMap', 'Cidr']
const SCALAR_TAGS = ['Ref', 'Condition', 'Base64', 'GetAZs', 'ImportValue']

const longForm = (name: string) => (name === 'Ref' || name === 'Condition' ? name : `Fn::${name}`)

/**
 * The YAML tags of CloudFormation's short form, each read as its long form (`!Ref X` as
 * `{ Ref: X }`, `!GetAtt A.B` as `{ "Fn::GetAtt": [A, B] }`), as serverless reads its includes.
 */
export const CFN_YAML_TAGS: Tags = [
  ...SCALAR_TAGS.map((name) => ({
    tag: `!${name}`,
    resolve: (value: string) => ({ [longForm(name)]: value }),
  })),
  ...SEQUENCE_TAGS.map((name) => ({
    tag: `!${name}`,
    collection: 'seq' as const,
    resolve: (value: unknown) => ({ [longForm(name)]: (value as { toJSON(): unknown }).toJSON() }),
  })),
  { tag: '!GetAtt', resolve: (value: string) => ({ 'Fn::GetAtt': value.split('.') }) },
  {
    tag: '!GetAtt',
    collection: 'seq' as const,
    resolve: (value: unknown) => ({ 'Fn::GetAtt': (value as { toJSON(): unknown }).toJSON() }),
  },
  { tag: '!Sub', resolve: (value: string) => ({ 'Fn::Sub': value }) },
  {
    tag: '!Sub',
    collection: 'seq' as const,
    resolve: (value: unknown) => ({ 'Fn::Sub': (value as { toJSON(): unknown }).toJSON() }),
  },
]

/** A YAML document of the service (serverless.yml, a function.yml, an ASL file), short tags read as long forms. */
export function parseCfnYaml(text: string): unknown {
  return parse(text, { customTags: CFN_YAML_TAGS, logLevel: 'silent' })
}
