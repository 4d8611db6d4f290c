/**
 * Runs the inline code of a CloudFormation custom resource (Code.ZipFile) the way Lambda does:
 * as index.js (CommonJS) on this Node, with the AWS SDK client it requires replaced by a stub and
 * the pre-signed response URL pointing at a local HTTP server that records CloudFormation's
 * answer.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface KafkaStub {
  /** Receives each GetBootstrapBrokersCommand input; returns the API output or throws. */
  getBootstrapBrokers(input: { ClusterArn: string }): Promise<Record<string, unknown>>
}

export interface MacieStub {
  /** Receives each command by name (`CreateClassificationJob`, ...) with its input. */
  send(command: string, input: Record<string, unknown>): Promise<Record<string, unknown>>
}

export interface CustomResourceAnswer {
  method: string
  contentType: string | undefined
  body: Record<string, unknown>
}

/** A stand-in for one `@aws-sdk/client-*` package: its module source and the object it calls. */
interface SdkStub {
  module: string
  source: string
  global: string
  implementation: unknown
}

const KAFKA_STUB = `
class GetBootstrapBrokersCommand { constructor(input) { this.input = input } }
class KafkaClient {
  async send(command) {
    if (!(command instanceof GetBootstrapBrokersCommand)) throw new Error('unexpected command')
    return globalThis.__kafkaStub.getBootstrapBrokers(command.input)
  }
}
module.exports = { GetBootstrapBrokersCommand, KafkaClient }
`

const MACIE_COMMANDS = ['CreateClassificationJob', 'UpdateClassificationJob']
const MACIE_STUB = `
const commands = {}
for (const name of ${JSON.stringify(MACIE_COMMANDS)}) {
  commands[name + 'Command'] = class { constructor(input) { this.name = name; this.input = input } }
}
class Macie2Client {
  async send(command) { return globalThis.__macieStub.send(command.name, command.input) }
}
module.exports = { ...commands, Macie2Client }
`

async function invoke(
  zipFile: string,
  event: Record<string, unknown>,
  stub: SdkStub,
): Promise<{ answers: CustomResourceAnswer[]; error?: unknown }> {
  const dir = await mkdtemp(join(tmpdir(), 'crypto-lake-custom-resource-'))
  const answers: CustomResourceAnswer[] = []
  const server = createServer((request, response) => {
    let text = ''
    request.setEncoding('utf8')
    request.on('data', (chunk: string) => {
      text += chunk
    })
    request.on('end', () => {
      answers.push({
        method: request.method ?? '',
        contentType: request.headers['content-type'],
        body: JSON.parse(text) as Record<string, unknown>,
      })
      response.writeHead(200).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const globals = globalThis as Record<string, unknown>
  globals[stub.global] = stub.implementation
  try {
    const stubDir = join(dir, 'node_modules', ...stub.module.split('/'))
    await mkdir(stubDir, { recursive: true })
    await writeFile(join(stubDir, 'index.js'), stub.source)
    await writeFile(join(dir, 'index.js'), zipFile)
    const load = createRequire(join(dir, 'index.js'))
    const module = load('./index.js') as { handler: (event: unknown, context: unknown) => Promise<unknown> }
    const context = { logStreamName: '2026/11/30/[$LATEST]abc' }
    try {
      await module.handler(
        { ...event, ResponseURL: `http://127.0.0.1:${port}/presigned?X-Amz-Signature=x` },
        context,
      )
      return { answers }
    } catch (error) {
      return { answers, error }
    }
  } finally {
    delete globals[stub.global]
    await new Promise<void>((resolve) => server.close(() => resolve()))
    await rm(dir, { recursive: true, force: true })
  }
}

/** Runs Custom::KafkaBootstrapBrokers with `@aws-sdk/client-kafka` stubbed. */
export function invokeInlineCustomResource(
  zipFile: string,
  event: Record<string, unknown>,
  kafka: KafkaStub,
): Promise<{ answers: CustomResourceAnswer[]; error?: unknown }> {
  return invoke(zipFile, event, {
    module: '@aws-sdk/client-kafka',
    source: KAFKA_STUB,
    global: '__kafkaStub',
    implementation: kafka,
  })
}

/** Runs Custom::MacieClassificationJob with `@aws-sdk/client-macie2` stubbed. */
export function invokeMacieCustomResource(
  zipFile: string,
  event: Record<string, unknown>,
  macie: MacieStub,
): Promise<{ answers: CustomResourceAnswer[]; error?: unknown }> {
  return invoke(zipFile, event, {
    module: '@aws-sdk/client-macie2',
    source: MACIE_STUB,
    global: '__macieStub',
    implementation: macie,
  })
}
