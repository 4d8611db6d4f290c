import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  answerCustomResource,
  type CustomResourceProvider,
  type CustomResourceRequest,
  type CustomResourceResponse,
  putCustomResourceResponse,
} from '../../functions/shared/custom-resource.ts'

/** A stand-in for the pre-signed S3 URL: records each request, answers with the next status. */
const received: Array<{ method?: string; url?: string; headers: IncomingHttpHeaders; body: string }> = []
let status = 200
const server = createServer((request, response) => {
  let body = ''
  request.setEncoding('utf8')
  request.on('data', (chunk: string) => {
    body += chunk
  })
  request.on('end', () => {
    received.push({ method: request.method, url: request.url, headers: request.headers, body })
    response.writeHead(status).end()
  })
})
let responseUrl = ''

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  responseUrl = `http://127.0.0.1:${port}/bucket/stack-req-1?X-Amz-SignedHeaders=host&X-Amz-Signature=abc`
})

afterAll(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
})

const RESPONSE: CustomResourceResponse = {
  Status: 'SUCCESS',
  PhysicalResourceId: 'kafka-topics:cluster',
  StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/crypto-data-lake-dev/abc',
  RequestId: 'req-1',
  LogicalResourceId: 'KafkaTopics',
  Data: { Topics: 'crypto.bars' },
}

describe('putCustomResourceResponse', () => {
  it('PUTs the JSON response to the pre-signed URL, path and query untouched, with an empty content type', async () => {
    received.length = 0
    status = 200
    await putCustomResourceResponse(responseUrl, RESPONSE)
    expect(received).toHaveLength(1)
    const [request] = received
    expect(request?.method).toBe('PUT')
    expect(request?.url).toBe('/bucket/stack-req-1?X-Amz-SignedHeaders=host&X-Amz-Signature=abc')
    // Sent, and empty: not text/plain, which the URL is not signed for.
    expect(request?.headers).toHaveProperty('content-type', '')
    expect(request?.headers['content-length']).toBe(String(Buffer.byteLength(request?.body ?? '')))
    expect(JSON.parse(request?.body ?? '')).toEqual({
      Status: 'SUCCESS',
      PhysicalResourceId: 'kafka-topics:cluster',
      StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/crypto-data-lake-dev/abc',
      RequestId: 'req-1',
      LogicalResourceId: 'KafkaTopics',
      Data: { Topics: 'crypto.bars' },
    })
  })

  it('rejects when S3 refuses the answer, so the invocation fails instead of leaving the stack waiting', async () => {
    status = 403
    await expect(putCustomResourceResponse(responseUrl, RESPONSE)).rejects.toThrow(
      'CloudFormation response rejected: HTTP 403',
    )
    status = 200
  })
})

function request(type: 'Create' | 'Update' | 'Delete', physicalId?: string): CustomResourceRequest {
  return {
    RequestType: type,
    ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:provider',
    ResponseURL:
      'https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x?X-Amz-Signature=y',
    StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/crypto-data-lake-dev/abc',
    RequestId: 'req-2',
    LogicalResourceId: 'Thing',
    ResourceType: 'Custom::Thing',
    ResourceProperties: { ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:provider' },
    ...(physicalId ? { PhysicalResourceId: physicalId, OldResourceProperties: {} } : {}),
  } as CustomResourceRequest
}

function provider(
  apply: CustomResourceProvider['apply'],
): CustomResourceProvider & { applied: () => number } {
  let calls = 0
  return {
    physicalResourceId: 'thing-new',
    keptOnDelete: 'the thing is kept',
    apply: () => {
      calls++
      return apply()
    },
    failureReason: (error) => `thing failed: ${(error as Error).message}`,
    applied: () => calls,
  }
}

async function answer(event: CustomResourceRequest, p: CustomResourceProvider) {
  const sent: Array<{ url: string; response: CustomResourceResponse }> = []
  const returned = await answerCustomResource(event, p, async (url, response) => {
    sent.push({ url, response })
  })
  return { sent, returned }
}

describe('answerCustomResource', () => {
  it('Create: applies and answers SUCCESS with the new physical id and the ids of the request', async () => {
    const p = provider(async () => ({ data: { Name: 'x' }, reason: 'done' }))
    const { sent, returned } = await answer(request('Create'), p)
    expect(p.applied()).toBe(1)
    expect(sent).toEqual([
      {
        url: 'https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x?X-Amz-Signature=y',
        response: {
          Status: 'SUCCESS',
          Reason: 'done',
          PhysicalResourceId: 'thing-new',
          StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/crypto-data-lake-dev/abc',
          RequestId: 'req-2',
          LogicalResourceId: 'Thing',
          Data: { Name: 'x' },
        },
      },
    ])
    expect(returned).toEqual(sent[0]?.response)
  })

  it('Update: applies and keeps the physical id CloudFormation holds (an update, not a replacement)', async () => {
    const p = provider(async () => ({ data: {} }))
    const { sent } = await answer(request('Update', 'thing-old'), p)
    expect(p.applied()).toBe(1)
    expect(sent[0]?.response).toEqual({
      Status: 'SUCCESS',
      PhysicalResourceId: 'thing-old',
      StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/crypto-data-lake-dev/abc',
      RequestId: 'req-2',
      LogicalResourceId: 'Thing',
      Data: {},
    })
  })

  it('Delete: applies nothing and answers SUCCESS with the held id and what is kept', async () => {
    const p = provider(async () => Promise.reject(new Error('must not run')))
    const { sent } = await answer(request('Delete', 'thing-old'), p)
    expect(p.applied()).toBe(0)
    expect(sent[0]?.response).toMatchObject({
      Status: 'SUCCESS',
      PhysicalResourceId: 'thing-old',
      Reason: 'the thing is kept',
      Data: {},
    })
  })

  it('a failure answers FAILED with the provider reason, cut at 1000 characters', async () => {
    const short = await answer(
      request('Create'),
      provider(async () => Promise.reject(new Error('broker unreachable'))),
    )
    expect(short.sent[0]?.response).toMatchObject({
      Status: 'FAILED',
      Reason: 'thing failed: broker unreachable',
      PhysicalResourceId: 'thing-new',
    })
    const long = await answer(
      request('Create'),
      provider(async () => Promise.reject(new Error('x'.repeat(5000)))),
    )
    expect(long.sent[0]?.response.Reason).toBe(`thing failed: ${'x'.repeat(986)}…`)
  })

  it('rejects when the answer cannot be delivered', async () => {
    await expect(
      answerCustomResource(
        request('Delete', 'thing-old'),
        provider(async () => ({ data: {} })),
        async () => {
          throw new Error('CloudFormation response rejected: HTTP 403')
        },
      ),
    ).rejects.toThrow('CloudFormation response rejected: HTTP 403')
  })
})
