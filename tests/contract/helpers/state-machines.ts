/**
 * The state machines of a packaged template as Step Functions will read them: the definition the
 * serverless-step-functions plugin writes (a `DefinitionString`, usually an `Fn::Sub` over the
 * ASL JSON) with its references replaced by stand-in values, then validated with asl-validator.
 */
import { createRequire } from 'node:module'
import { type CfnTemplate, getAttOf, refOf, substitute } from '../../../local/runtime/cfn.ts'

export interface AslState {
  Type: string
  Resource?: string
  Next?: string
  Retry?: unknown
  Catch?: unknown
  Branches?: Array<{ States: Record<string, AslState> }>
  ItemProcessor?: { States: Record<string, AslState> }
  Iterator?: { States: Record<string, AslState> }
  [key: string]: unknown
}

export interface AslDefinition {
  StartAt: string
  States: Record<string, AslState>
  [key: string]: unknown
}

const PSEUDO: Record<string, string> = {
  'AWS::Region': 'us-east-1',
  'AWS::AccountId': '123456789012',
  'AWS::Partition': 'aws',
  'AWS::StackName': 'crypto-data-lake-dev',
  'AWS::URLSuffix': 'amazonaws.com',
}

/**
 * What CloudFormation would substitute, well-formed enough for asl-validator: an ARN for a
 * `Fn::GetAtt [X, Arn]` or the `Ref` of a topic, a name for any other reference, the inner
 * references of a nested `Fn::Sub` replaced the same way.
 */
function resolve(template: CfnTemplate, value: unknown): string {
  if (typeof value === 'string') return value
  const ref = refOf(value)
  if (ref !== undefined) {
    const pseudo = PSEUDO[ref]
    if (pseudo) return pseudo
    return template.Resources[ref]?.Type === 'AWS::SNS::Topic'
      ? `arn:aws:sns:us-east-1:123456789012:${ref}`
      : `stand-in-${ref}`
  }
  const getAtt = getAttOf(value)
  if (getAtt) {
    const [id, attribute] = getAtt
    return attribute === 'Arn'
      ? `arn:aws:lambda:us-east-1:123456789012:function:${id}`
      : `stand-in-${id}-${attribute}`
  }
  const sub = (value as { 'Fn::Sub'?: unknown })['Fn::Sub']
  if (typeof sub === 'string') return substituteIn(template, sub, {}, 'nested Fn::Sub')
  throw new Error(`cannot stand in for ${JSON.stringify(value)}`)
}

function substituteIn(
  template: CfnTemplate,
  text: string,
  variables: Record<string, unknown>,
  where: string,
) {
  return substitute(text, (name) => {
    if (name in variables) return resolve(template, variables[name])
    const pseudo = PSEUDO[name]
    if (pseudo) return pseudo
    if (name.includes('.')) return resolve(template, { 'Fn::GetAtt': name })
    if (template.Resources[name]) return resolve(template, { Ref: name })
    throw new Error(
      `${where}: \${${name}} is neither a variable of its Fn::Sub, a resource nor a pseudo parameter`,
    )
  })
}

export function definitionOf(template: CfnTemplate, logicalId: string): AslDefinition {
  const p = template.Resources[logicalId]?.Properties ?? {}
  if (p.Definition && typeof p.Definition === 'object') return p.Definition as AslDefinition
  const raw = p.DefinitionString
  if (typeof raw === 'string') return JSON.parse(raw) as AslDefinition
  const sub = (raw as { 'Fn::Sub'?: unknown } | undefined)?.['Fn::Sub']
  if (typeof sub === 'string') return JSON.parse(substituteIn(template, sub, {}, logicalId)) as AslDefinition
  if (Array.isArray(sub) && typeof sub[0] === 'string') {
    const variables = (sub[1] ?? {}) as Record<string, unknown>
    return JSON.parse(substituteIn(template, sub[0], variables, logicalId)) as AslDefinition
  }
  throw new Error(`${logicalId}: no definition the tests can read`)
}

/** Every state, nested ones (Parallel branches, Map processors) included, by name. */
export function allStates(definition: { States: Record<string, AslState> }): Array<[string, AslState]> {
  const found: Array<[string, AslState]> = []
  for (const [name, state] of Object.entries(definition.States)) {
    found.push([name, state])
    for (const branch of state.Branches ?? []) found.push(...allStates(branch))
    if (state.ItemProcessor) found.push(...allStates(state.ItemProcessor))
    if (state.Iterator) found.push(...allStates(state.Iterator))
  }
  return found
}

const validator = createRequire(import.meta.url)('asl-validator') as (definition: unknown) => {
  isValid: boolean
  errorsText: (separator?: string) => string
}

export function validateAsl(definition: AslDefinition) {
  return validator(definition)
}
