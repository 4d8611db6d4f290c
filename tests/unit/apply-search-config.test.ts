import type { Client } from '@opensearch-project/opensearch'
import type { CloudFormationCustomResourceEvent } from 'aws-lambda'
import { describe, expect, it } from 'vitest'
import { applySearchConfigResource, PHYSICAL_RESOURCE_ID } from '../../functions/apply-search-config/core.ts'
import type { CustomResourceResponse } from '../../functions/shared/custom-resource.ts'
import {
  applyIsmPolicies,
  coversPolicy,
  ismAvailable,
  ismPolicies,
} from '../../functions/shared/search-templates.ts'

const common = {
  ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:apply',
  ResponseURL: 'https://cloudformation-custom-resource-response.s3.amazonaws.com/x?X-Amz-Signature=y',
  StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/crypto-data-lake-dev/1',
  RequestId: 'req-1',
  LogicalResourceId: 'SearchConfig',
  ResourceType: 'Custom::SearchConfig',
  ResourceProperties: { ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:apply' },
}

function deps(apply: () => Promise<never> | Promise<Awaited<ReturnType<typeof applied>>>) {
  const answers: Array<{ url: string; response: CustomResourceResponse }> = []
  let calls = 0
  return {
    answers,
    calls: () => calls,
    deps: {
      apply: () => {
        calls++
        return apply()
      },
      respond: async (url: string, response: CustomResourceResponse) => {
        answers.push({ url, response })
      },
      logStreamName: '2026/11/30/[$LATEST]abc',
    },
  }
}

const applied = async () => ({
  templates: ['crypto-bars', 'crypto-trades', 'crypto-assets'],
  aliases: ['crypto-bars'],
  ism: { 'crypto-bars-retention': 'created' as const, 'crypto-trades-retention': 'unchanged' as const },
})

describe('apply-search-config custom resource', () => {
  it.each(['Create', 'Update'] as const)(
    'applies the config on %s and answers SUCCESS with what it did',
    async (type) => {
      const event = (
        type === 'Create'
          ? { ...common, RequestType: 'Create' }
          : {
              ...common,
              RequestType: 'Update',
              PhysicalResourceId: PHYSICAL_RESOURCE_ID,
              OldResourceProperties: {},
            }
      ) as CloudFormationCustomResourceEvent
      const fake = deps(applied)
      await applySearchConfigResource(event, fake.deps)
      expect(fake.calls()).toBe(1)
      expect(fake.answers).toEqual([
        {
          url: common.ResponseURL,
          response: {
            Status: 'SUCCESS',
            Reason: 'applied',
            PhysicalResourceId: 'crypto-lake-search-config',
            StackId: common.StackId,
            RequestId: 'req-1',
            LogicalResourceId: 'SearchConfig',
            Data: {
              Templates: 'crypto-bars,crypto-trades,crypto-assets',
              Aliases: 'crypto-bars',
              Ism: 'crypto-bars-retention:created,crypto-trades-retention:unchanged',
            },
          },
        },
      ])
    },
  )

  it('does nothing on Delete and answers with the physical id CloudFormation holds', async () => {
    const fake = deps(applied)
    await applySearchConfigResource(
      {
        ...common,
        RequestType: 'Delete',
        PhysicalResourceId: 'older-id',
      } as CloudFormationCustomResourceEvent,
      fake.deps,
    )
    expect(fake.calls()).toBe(0)
    expect(fake.answers[0]?.response).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: 'older-id' })
  })

  it('answers FAILED with the message and the log stream when applying fails', async () => {
    const fake = deps(async () => {
      throw new Error('connect ETIMEDOUT 10.0.1.5:443')
    })
    await applySearchConfigResource(
      { ...common, RequestType: 'Create' } as CloudFormationCustomResourceEvent,
      fake.deps,
    )
    expect(fake.answers[0]?.response).toMatchObject({
      Status: 'FAILED',
      Reason: 'connect ETIMEDOUT 10.0.1.5:443 (log stream 2026/11/30/[$LATEST]abc)',
      PhysicalResourceId: 'crypto-lake-search-config',
    })
  })
})

describe('ISM policies', () => {
  type Request = { method: string; path: string; querystring?: Record<string, unknown>; body?: unknown }
  function fakeClient(stored: Record<string, unknown>, ism = true) {
    const requests: Request[] = []
    const client = {
      transport: {
        async request(request: Request) {
          requests.push(request)
          if (!ism)
            throw Object.assign(new Error('no handler'), {
              meta: { statusCode: 400, body: { error: 'no handler found for uri' } },
            })
          const id = decodeURIComponent(request.path.split('/').pop() ?? '')
          if (request.method === 'GET' && request.path === '/_plugins/_ism/policies')
            return { body: { policies: [] } }
          if (request.method === 'GET') {
            if (!(id in stored)) throw Object.assign(new Error('not found'), { meta: { statusCode: 404 } })
            return { body: { _id: id, _seq_no: 7, _primary_term: 1, policy: stored[id] } }
          }
          return { body: {} }
        },
      },
    }
    return { client: client as unknown as Client, requests }
  }

  /** What the node returns for our policy: ours plus its own fields. */
  function asStored(policy: { states: Array<{ actions: unknown[] }> } & Record<string, unknown>) {
    return {
      ...policy,
      policy_id: 'x',
      last_updated_time: 1,
      schema_version: 21,
      error_notification: null,
      states: policy.states.map((state) => ({
        ...state,
        actions: state.actions.map((action) => ({
          retry: { count: 3, backoff: 'exponential', delay: '1m' },
          ...(action as object),
        })),
      })),
      ism_template: (policy.ism_template as object[]).map((t) => ({ ...t, last_updated_time: 1 })),
    }
  }

  it('creates missing policies, leaves identical ones, replaces changed ones with optimistic concurrency', async () => {
    const policies = ismPolicies()
    const bars = policies['crypto-bars-retention']?.policy as Parameters<typeof asStored>[0]
    const trades = policies['crypto-trades-retention']?.policy as Parameters<typeof asStored>[0]
    expect(bars.states[0]).toEqual({
      name: 'hot',
      actions: [],
      transitions: [{ state_name: 'delete', conditions: { min_index_age: '180d' } }],
    })

    const empty = fakeClient({})
    expect(await applyIsmPolicies(empty.client)).toEqual({
      'crypto-bars-retention': 'created',
      'crypto-trades-retention': 'created',
    })
    expect(empty.requests.filter((r) => r.method === 'PUT').map((r) => [r.path, r.querystring])).toEqual([
      ['/_plugins/_ism/policies/crypto-bars-retention', undefined],
      ['/_plugins/_ism/policies/crypto-trades-retention', undefined],
    ])

    const shorter = JSON.parse(JSON.stringify(trades).replace('"90d"', '"30d"'))
    const existing = fakeClient({
      'crypto-bars-retention': asStored(bars),
      'crypto-trades-retention': asStored(shorter),
    })
    expect(await applyIsmPolicies(existing.client)).toEqual({
      'crypto-bars-retention': 'unchanged',
      'crypto-trades-retention': 'updated',
    })
    expect(existing.requests.filter((r) => r.method === 'PUT').map((r) => [r.path, r.querystring])).toEqual([
      ['/_plugins/_ism/policies/crypto-trades-retention', { if_seq_no: 7, if_primary_term: 1 }],
    ])
  })

  it('detects a node without the ISM plugin', async () => {
    expect(await ismAvailable(fakeClient({}, false).client)).toBe(false)
    expect(await ismAvailable(fakeClient({}).client)).toBe(true)
  })

  it('treats fields the node adds as no difference, and a different value as one', () => {
    expect(coversPolicy({ a: 1, b: [{ c: 2, d: 3 }] }, { a: 1, b: [{ c: 2 }] })).toBe(true)
    expect(coversPolicy({ a: 1, b: [{ c: 2 }, { c: 3 }] }, { a: 1, b: [{ c: 2 }] })).toBe(false)
    expect(coversPolicy({ a: '30d' }, { a: '90d' })).toBe(false)
  })
})
