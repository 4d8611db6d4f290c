import { describe, expect, it } from 'vitest'
import {
  functionKeyOf,
  functionLogicalId,
  getAttOf,
  parseCfnYaml,
  referencedResource,
  refOf,
  substitute,
} from '../../local/runtime/cfn.ts'

describe('parseCfnYaml', () => {
  it('reads the short tags as their long forms, nested ones too', () => {
    const text = [
      'ref: !Ref RawBucket',
      'dotted: !GetAtt OpenSearchDomain.DomainEndpoint',
      'listed: !GetAtt [DataKey, Arn]',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder, not JS
      'sub: !Sub https://${OpenSearchDomain.DomainEndpoint}',
      "join: !Join ['', [a, !Ref B]]",
      'when: !If [IsProd, !Ref X, !Sub "y"]',
      'not: !Not [!Equals [a, b]]',
    ].join('\n')
    expect(parseCfnYaml(text)).toEqual({
      ref: { Ref: 'RawBucket' },
      dotted: { 'Fn::GetAtt': ['OpenSearchDomain', 'DomainEndpoint'] },
      listed: { 'Fn::GetAtt': ['DataKey', 'Arn'] },
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder, not JS
      sub: { 'Fn::Sub': 'https://${OpenSearchDomain.DomainEndpoint}' },
      join: { 'Fn::Join': ['', ['a', { Ref: 'B' }]] },
      when: { 'Fn::If': ['IsProd', { Ref: 'X' }, { 'Fn::Sub': 'y' }] },
      not: { 'Fn::Not': [{ 'Fn::Equals': ['a', 'b'] }] },
    })
  })
})

describe('intrinsic readers', () => {
  it('name what a Ref or a GetAtt points at, and nothing else', () => {
    expect(refOf({ Ref: 'AlarmTopic' })).toBe('AlarmTopic')
    expect(refOf('AlarmTopic')).toBeUndefined()
    expect(getAttOf({ 'Fn::GetAtt': ['DataKey', 'Arn'] })).toEqual(['DataKey', 'Arn'])
    expect(getAttOf({ 'Fn::GetAtt': 'KafkaBootstrapBrokers.BootstrapBrokerStringSaslIam' })).toEqual([
      'KafkaBootstrapBrokers',
      'BootstrapBrokerStringSaslIam',
    ])
    expect(referencedResource({ 'Fn::GetAtt': ['PollBarsLambdaFunction', 'Arn'] })).toBe(
      'PollBarsLambdaFunction',
    )
    expect(referencedResource({ Ref: 'LakeRefreshStateMachine' })).toBe('LakeRefreshStateMachine')
    expect(referencedResource({ 'Fn::Sub': 'x' })).toBeUndefined()
  })

  it('substitutes the names of an Fn::Sub and unescapes its literals', () => {
    const values: Record<string, string> = { RawBucket: 'local-raw', 'DataKey.Arn': 'arn:key' }
    // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub placeholders, not JS
    const text = 's3://${RawBucket}/${DataKey.Arn}/${!Literal}'
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the escape's literal text, not JS
    const expected = 's3://local-raw/arn:key/${Literal}'
    expect(substitute(text, (name) => values[name] ?? '?')).toBe(expected)
  })
})

describe('function naming', () => {
  it('maps a function key to its serverless logical id and back', () => {
    expect(functionLogicalId('pollBars')).toBe('PollBarsLambdaFunction')
    expect(functionKeyOf('PollBarsLambdaFunction')).toBe('pollBars')
    expect(functionKeyOf('PollBarsRole')).toBeUndefined()
  })
})
