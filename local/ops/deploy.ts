/**
 * `make deploy STAGE=…`: the checks a deploy needs, then `serverless deploy` of exactly the package
 * that was checked. Order: the stage is one of serverless.yml's `params`; AWS credentials are
 * present (the SDK's sources, without calling AWS); the AWS CLI is on PATH (the lake code upload
 * after the deploy needs it); `serverless package` of the stage; cfn-lint over its template;
 * then `serverless deploy --stage <stage> --package <dir>`. The decisions are pure functions over
 * the environment and files, so the refusals are tested without an AWS account.
 */
import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { parseCfnYaml } from '../runtime/cfn.ts'
import { packageArgs, TEMPLATE_FILE } from '../runtime/template.ts'
import { projectRoot } from '../services/index.ts'

/** The stages serverless.yml defines parameters for (`params.default` applies to all). */
export function stagesOf(serverlessYml: string): string[] {
  const document = parseCfnYaml(serverlessYml) as { params?: Record<string, unknown> }
  return Object.keys(document.params ?? {}).filter((stage) => stage !== 'default')
}

export function projectStages(): string[] {
  return stagesOf(readFileSync(join(projectRoot, 'serverless.yml'), 'utf8'))
}

/**
 * Where the AWS SDK would find credentials, in the order it looks (environment, web identity,
 * container, the shared files), or undefined. Presence only: whether they are valid is AWS's to
 * say, at the deploy's first call.
 */
export function credentialSource(
  env: NodeJS.ProcessEnv,
  fileExists: (path: string) => boolean,
): string | undefined {
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) return 'environment (AWS_ACCESS_KEY_ID)'
  if (env.AWS_WEB_IDENTITY_TOKEN_FILE && env.AWS_ROLE_ARN) return 'web identity (AWS_WEB_IDENTITY_TOKEN_FILE)'
  if (env.AWS_CONTAINER_CREDENTIALS_FULL_URI || env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI)
    return 'container credentials'
  const home = env.HOME ?? homedir()
  const credentials = env.AWS_SHARED_CREDENTIALS_FILE ?? join(home, '.aws', 'credentials')
  const config = env.AWS_CONFIG_FILE ?? join(home, '.aws', 'config')
  const profile = env.AWS_PROFILE ?? env.AWS_DEFAULT_PROFILE ?? 'default'
  if (fileExists(credentials) || fileExists(config)) return `shared files, profile ${profile}`
  return undefined
}

export interface DeployStep {
  what: string
  command: string
  args: string[]
}

export type DeployPlan =
  | { ok: true; credentials: string; packageDir: string; steps: DeployStep[] }
  | { ok: false; problems: string[] }

export interface DeployInputs {
  stage: string | undefined
  stages: string[]
  credentials: string | undefined
  awsCli: boolean
}

/** What a deploy of `stage` will run, or every reason it cannot run (all at once). */
export function planDeploy(inputs: DeployInputs): DeployPlan {
  const problems: string[] = []
  const { stage } = inputs
  if (!stage) problems.push(`name the stage: make deploy STAGE=<${inputs.stages.join('|')}>`)
  else if (!inputs.stages.includes(stage))
    problems.push(`unknown stage "${stage}": serverless.yml has params for ${inputs.stages.join(', ')}`)
  if (!inputs.credentials)
    problems.push(
      'no AWS credentials: set AWS_PROFILE (aws configure sso / aws configure) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
    )
  if (!inputs.awsCli)
    problems.push(
      'no `aws` CLI on PATH: every deploy ends by uploading the Spark job code with it (install AWS CLI v2)',
    )
  if (problems.length > 0 || !stage || !inputs.credentials) return { ok: false, problems }
  const packageDir = `.local/package/${stage}-deploy`
  const serverless = 'node_modules/.bin/serverless'
  return {
    ok: true,
    credentials: inputs.credentials,
    packageDir,
    steps: [
      {
        what: `package the ${stage} stage`,
        command: serverless,
        args: packageArgs(stage, packageDir),
      },
      {
        what: 'cfn-lint the packaged template',
        command: 'bash',
        args: ['scripts/cfn-lint.sh', `${packageDir}/${TEMPLATE_FILE}`],
      },
      {
        what: `deploy that package to ${stage}`,
        command: serverless,
        args: ['deploy', '--stage', stage, '--package', packageDir],
      },
    ],
  }
}

/** What a person does after a deploy, in the order it matters. */
export function nextSteps(stage: string): string[] {
  return [
    "Confirm the alarm e-mail subscription (a mail from AWS Notifications to the stage's alarmEmail).",
    `Fill the secrets: the CoinAPI key (refresh-assets alarms until it is there) and, optionally, the Alpaca keys: aws cloudformation describe-stacks --stack-name crypto-data-lake-${stage} --query "Stacks[0].Outputs"`,
    `Watch the functions: make logs STAGE=${stage} prints the aws logs tail commands.`,
    'The first bars arrive within a minute; the lake refreshes at 7 past the hour.',
    'When an alarm mails you: RUNBOOK.md.',
  ]
}

export function deployInputs(stage: string | undefined, awsCli: boolean): DeployInputs {
  return { stage, stages: projectStages(), credentials: credentialSource(process.env, existsSync), awsCli }
}
