/**
 * The security scans of the packaged templates (scripts/security-scan.sh): checkov's
 * CloudFormation checks and this project's Guard rules (security/guard/), judged against
 * security/skips.yml. Zero failures without a written reason, zero stale skips, on both stages;
 * and the scan still catches what its rules are for, on a template broken on purpose.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { packaged, projectRoot } from './helpers/package-service.ts'
import type { CfnTemplate } from './helpers/template.ts'

const run = promisify(execFile)
const TEMPLATE = 'cloudformation-template-update-stack.json'
// The first run installs checkov and compiles cfn-guard (make setup does it beforehand).
const FIRST_RUN_MS = 900_000

interface ScanFinding {
  template: string
  tool: 'checkov' | 'guard'
  check: string
  resource: string
}
interface ScanResult {
  templates: Record<string, Record<'checkov' | 'guard', { passed: number; failed: number; skipped: number }>>
  unjustified: ScanFinding[]
  stale: Array<{ tool: string; check: string }>
}
interface Skip {
  reason: string
  resources: '*' | string[]
}

/** Runs the scan over `name=template` pairs; resolves to its exit code and its result line. */
async function scan(pairs: string[]): Promise<{ code: number; output: string; result: ScanResult }> {
  let code = 0
  let output: string
  try {
    const { stdout, stderr } = await run(
      'bash',
      [join(projectRoot, 'scripts', 'security-scan.sh'), ...pairs],
      {
        cwd: projectRoot,
        timeout: FIRST_RUN_MS,
        maxBuffer: 64 * 1024 * 1024,
      },
    )
    output = `${stdout}${stderr}`
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string }
    code = typeof failed.code === 'number' ? failed.code : 1
    output = `${failed.stdout ?? ''}${failed.stderr ?? ''}`
  }
  const line = output.split('\n').find((each) => each.startsWith('security-scan-result: '))
  if (!line) throw new Error(`security-scan.sh printed no result (exit ${code}):\n${output}`)
  return { code, output, result: JSON.parse(line.slice('security-scan-result: '.length)) as ScanResult }
}

describe('security scans of the packaged templates', () => {
  let verdict: Awaited<ReturnType<typeof scan>>

  beforeAll(async () => {
    const [dev, prod] = await Promise.all([packaged('dev'), packaged('prod')])
    verdict = await scan([`dev=${join(dev.dir, TEMPLATE)}`, `prod=${join(prod.dir, TEMPLATE)}`])
  }, FIRST_RUN_MS)

  it('finds no failure that security/skips.yml does not justify, on either stage', () => {
    expect(verdict.result.unjustified).toEqual([])
    expect(verdict.code).toBe(0)
  })

  it('holds no skip that matches no failure any more', () => {
    expect(verdict.result.stale).toEqual([])
  })

  it('runs checkov and the Guard rules on both stages, and most checks pass', () => {
    for (const stage of ['dev', 'prod']) {
      const { checkov, guard } = verdict.result.templates[stage] ?? {}
      expect(checkov?.passed).toBeGreaterThan(300)
      expect(checkov?.skipped).toBe(checkov?.failed)
      expect(guard?.passed).toBeGreaterThan(15)
      expect(guard?.skipped).toBe(guard?.failed)
    }
  })
})

describe('security/skips.yml', () => {
  it('gives every skip a reason and the resources it covers', async () => {
    const skips = parse(await readFile(join(projectRoot, 'security', 'skips.yml'), 'utf8')) as Record<
      'checkov' | 'guard',
      Record<string, Skip>
    >
    const all = [...Object.entries(skips.checkov), ...Object.entries(skips.guard)]
    expect(all.length).toBeGreaterThan(0)
    for (const [check, skip] of all) {
      expect(skip.reason.trim().length, check).toBeGreaterThan(80)
      expect(
        skip.resources === '*' || (Array.isArray(skip.resources) && skip.resources.length > 0),
        check,
      ).toBe(true)
    }
  })

  it('skips no check about encryption at rest or public access', async () => {
    const skips = parse(await readFile(join(projectRoot, 'security', 'skips.yml'), 'utf8')) as Record<
      'checkov' | 'guard',
      Record<string, Skip>
    >
    // checkov: S3 SSE (CKV_AWS_19), S3 public access (CKV_AWS_53..56), log group KMS (CKV_AWS_158),
    // environment KMS (CKV_AWS_173); Guard: the project's own encryption and exposure rules.
    for (const id of [
      'CKV_AWS_19',
      'CKV_AWS_53',
      'CKV_AWS_54',
      'CKV_AWS_55',
      'CKV_AWS_56',
      'CKV_AWS_158',
      'CKV_AWS_173',
    ])
      expect(skips.checkov[id], id).toBeUndefined()
    for (const rule of [
      'S3_BUCKET_SSE_KMS',
      'S3_BUCKET_PUBLIC_ACCESS_BLOCKED',
      'LOG_GROUP_ENCRYPTED_AND_EXPIRING',
      'SG_INGRESS_ONLY_FROM_GROUPS',
    ])
      expect(skips.guard[rule], rule).toBeUndefined()
  })
})

describe('the scan catches what it is for (a prod template broken on purpose)', () => {
  let dir: string
  let verdict: Awaited<ReturnType<typeof scan>>

  beforeAll(async () => {
    const prod = await packaged('prod')
    const template = JSON.parse(await readFile(join(prod.dir, TEMPLATE), 'utf8')) as CfnTemplate
    const resources = template.Resources as Record<string, { Properties: Record<string, unknown> }>
    // The deployment bucket back on SSE-S3, as the framework makes it.
    ;(
      resources.ServerlessDeploymentBucket as { Properties: Record<string, unknown> }
    ).Properties.BucketEncryption = {
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
    }
    // A log group the encryption plugin did not see.
    delete (resources.PollBarsLogGroup as { Properties: Record<string, unknown> }).Properties.KmsKeyId
    // An ingress rule open to the internet.
    ;(resources.OpenSearchFromLambdaIngress as { Properties: Record<string, unknown> }).Properties = {
      GroupId: { 'Fn::GetAtt': ['OpenSearchSecurityGroup', 'GroupId'] },
      Description: 'HTTPS from anywhere',
      IpProtocol: 'tcp',
      FromPort: 443,
      ToPort: 443,
      CidrIp: '0.0.0.0/0',
    }
    dir = await mkdtemp(join(tmpdir(), 'crypto-lake-security-'))
    await writeFile(join(dir, TEMPLATE), JSON.stringify(template))
    verdict = await scan([`broken=${join(dir, TEMPLATE)}`])
  }, FIRST_RUN_MS)

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('fails, naming each broken resource under the checks that found it', () => {
    expect(verdict.code).toBe(1)
    const found = verdict.result.unjustified.map(
      ({ tool, check, resource }) => `${tool} ${check} ${resource}`,
    )
    expect(found).toEqual(
      expect.arrayContaining([
        'guard S3_BUCKET_SSE_KMS ServerlessDeploymentBucket',
        'guard LOG_GROUP_ENCRYPTED_AND_EXPIRING PollBarsLogGroup',
        'guard SG_INGRESS_ONLY_FROM_GROUPS OpenSearchFromLambdaIngress',
        'checkov CKV_AWS_158 PollBarsLogGroup',
      ]),
    )
  })
})
