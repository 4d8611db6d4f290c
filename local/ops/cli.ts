/**
 * The day-two commands: `make status`, `make doctor`, `make invoke`, `make logs`, `make deploy`.
 * Each is a subcommand here and answers `--help` (make <target> ARGS=--help). Progress goes to
 * stderr; what a command reports goes to stdout. Each command imports its module when it runs:
 * `--help` and a refused deploy do not load the local runtime.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { Command, InvalidArgumentError, Option } from 'commander'
import { profileOption } from '../profile-option.ts'
import { type Profile, projectRoot } from '../services/paths.ts'
import { paintFor } from './text.ts'

const progress = (prefix: string) => (line: string) => process.stderr.write(`[${prefix}] ${line}\n`)

function positiveInt(text: string): number {
  const value = Number(text)
  if (!Number.isInteger(value) || value < 0) throw new InvalidArgumentError('expected a whole number.')
  return value
}

const program = new Command()
  .name('ops')
  .description(
    'Day-two commands of the crypto data lake (see RUNBOOK.md for what to do when an alarm fires).',
  )
  .showHelpAfterError()

program
  .command('status')
  .description(
    'the services of each local profile (up or down, pid, endpoint), the ports in use and the size of the local state under .local/',
  )
  .action(async () => {
    const { gatherStatus, renderStatus } = await import('./status.ts')
    process.stdout.write(`${renderStatus(await gatherStatus(), paintFor(process.stdout))}\n`)
  })

program
  .command('doctor')
  .description(
    'check this machine for make run and make test: Node, Java, Maven, Python and the venv, disk, ports, Chromium, cfn-lint, the AWS CLI; each OK, WARN or FAIL with its fix; exits 1 on any FAIL',
  )
  .action(async () => {
    const { gatherFacts, renderFindings } = await import('./doctor.ts')
    const { evaluate, exitCodeOf } = await import('./doctor-checks.ts')
    const findings = evaluate(await gatherFacts())
    process.stdout.write(`${renderFindings(findings, paintFor(process.stdout))}\n`)
    process.exitCode = exitCodeOf(findings)
  })

program
  .command('invoke')
  .description(
    "run one function once on the local runtime with its packaged environment (CloudFormation references become the local stand-ins); starts the profile's Kafka and OpenSearch if the function needs them; prints its logs and result",
  )
  .argument('<function>', 'the function key, e.g. pollBars (or poll-bars)')
  .option(
    '--event <file>',
    'the event as a JSON file; default: what its trigger sends (a scheduled event, a batch of the newest records of its topics, or {})',
  )
  .option('--stage <stage>', 'the serverless stage whose packaged environment is used', 'dev')
  .addOption(profileOption())
  .action(async (fn: string, options: { event?: string; stage: string; profile: Profile }) => {
    const { invokeOnce } = await import('./invoke.ts')
    const { formatLogLine, readLinesFrom } = await import('./logs.ts')
    const outcome = await invokeOnce({
      fn,
      profile: options.profile,
      stage: options.stage,
      log: progress('invoke'),
      ...(options.event ? { eventFile: options.event } : {}),
    })
    const paint = paintFor(process.stdout)
    process.stdout.write(`${paint('bold', `${outcome.name}: logs and metrics`)} (${outcome.logFile})\n`)
    readLinesFrom(outcome.logFile, outcome.logOffset, (line) => {
      const formatted = formatLogLine(line, {}, paint)
      if (formatted !== undefined) process.stdout.write(`${formatted}\n`)
    })
    const seconds = (outcome.durationMs / 1000).toFixed(1)
    if (outcome.ok) {
      process.stdout.write(`${paint('bold', `${outcome.name}: returned in ${seconds} s`)}\n`)
      process.stdout.write(`${JSON.stringify(outcome.result ?? null, null, 2)}\n`)
    } else {
      process.stdout.write(
        `${paint('red', `${outcome.name}: failed after ${seconds} s: ${outcome.error}`)}\n`,
      )
      process.exitCode = 1
    }
    // The function's clients (Kafka producers, HTTP agents) would keep the process alive, as a
    // Lambda container does between invocations.
    process.exit()
  })

program
  .command('logs')
  .description(
    "the local functions' logs and EMF metrics (make run and make invoke write them to .local/<profile>/logs/functions.ndjson), one readable line each; with --stage, the aws logs tail commands for the deployed functions",
  )
  .option(
    '--fn <function>',
    'only this function (pollBars or poll-bars); metric lines name a function only for ColdStart, so most are left out',
  )
  .option('--follow', 'keep printing new lines until Ctrl-C', false)
  .addOption(
    new Option('--lines <count>', 'start with the last <count> lines').argParser(positiveInt).default(200),
  )
  .addOption(profileOption())
  .option('--stage <stage>', 'a deployed stage: print how to read its logs with the AWS CLI instead')
  .action(
    async (options: { fn?: string; follow: boolean; lines: number; profile: Profile; stage?: string }) => {
      const { followLines, formatLogLine, offsetOfLastLines, readLinesFrom } = await import('./logs.ts')
      const { localPaths } = await import('../run.ts')
      if (options.stage) {
        process.stdout.write(`${await awsLogCommands(options.stage, options.fn)}\n`)
        return
      }
      const file = localPaths(options.profile).functionLog
      if (!existsSync(file) && !options.follow) {
        process.stderr.write(
          `[logs] no function log yet at ${file}: make run or make invoke FN=<function> writes it\n`,
        )
        return
      }
      const paint = paintFor(process.stdout)
      const print = (line: string) => {
        const formatted = formatLogLine(line, options.fn === undefined ? {} : { fn: options.fn }, paint)
        if (formatted !== undefined) process.stdout.write(`${formatted}\n`)
      }
      const offset = readLinesFrom(file, offsetOfLastLines(file, options.lines), print)
      if (!options.follow) return
      const stop = new AbortController()
      process.once('SIGINT', () => stop.abort())
      process.once('SIGTERM', () => stop.abort())
      await followLines(file, offset, print, stop.signal)
    },
  )

program
  .command('deploy')
  .description(
    'deploy a stage to AWS: refuses without a known stage, AWS credentials and the AWS CLI; packages the stage, cfn-lints the template, then serverless deploy of that package; prints what to do next',
  )
  .option('--stage <stage>', 'dev or prod (serverless.yml params)')
  .option('--dry-run', 'check and print the steps without running them', false)
  .action(async (options: { stage?: string; dryRun: boolean }) => {
    const { deployInputs, nextSteps, planDeploy } = await import('./deploy.ts')
    const { runCommand } = await import('../services/process.ts')
    const awsCli = await runCommand('aws', ['--version']).then(
      (result) => result.code === 0,
      () => false,
    )
    const plan = planDeploy(deployInputs(options.stage, awsCli))
    const log = progress('deploy')
    if (!plan.ok) {
      for (const problem of plan.problems) log(`refused: ${problem}`)
      process.exitCode = 2
      return
    }
    log(`credentials: ${plan.credentials}`)
    for (const step of plan.steps) {
      log(`${step.what}: ${step.command} ${step.args.join(' ')}`)
      if (options.dryRun) continue
      const code = await new Promise<number>((resolve, reject) => {
        const child = spawn(step.command, step.args, { cwd: projectRoot, stdio: 'inherit' })
        child.on('error', reject)
        child.on('exit', (exit) => resolve(exit ?? 1))
      })
      if (code !== 0) {
        log(`${step.what} failed (exit ${code}); nothing after it ran`)
        process.exitCode = code
        return
      }
    }
    const stage = options.stage ?? ''
    log(options.dryRun ? 'dry run: nothing was run. After a deploy:' : `deployed ${stage}. Next:`)
    for (const step of nextSteps(stage)) log(`  - ${step}`)
  })

/**
 * The log groups of a deployed stage, from its packaged template (packaged offline if stale), as
 * `aws logs tail` commands. EMF metric documents are lines of the same groups; their values are
 * in CloudWatch Metrics under the CryptoLake namespace.
 */
async function awsLogCommands(stage: string, fn: string | undefined): Promise<string> {
  const { packageService } = await import('../runtime/template.ts')
  const { localPaths } = await import('../run.ts')
  const template = await packageService(
    projectRoot,
    join(localPaths('run').packageDir, stage),
    stage,
    progress('logs'),
  )
  const groups = Object.values(template.Resources)
    .filter((resource) => resource.Type === 'AWS::Logs::LogGroup')
    .map((resource) => resource.Properties?.LogGroupName)
    .filter((name): name is string => typeof name === 'string')
    .filter(
      (name) => fn === undefined || name.toLowerCase().endsWith(`-${fn.replace(/[-_]/g, '').toLowerCase()}`),
    )
    .sort()
  if (groups.length === 0) return `no log group in the ${stage} package${fn ? ` for ${fn}` : ''}`
  return [
    `# The ${stage} stage's log groups (from its packaged template); needs AWS credentials:`,
    ...groups.map((group) => `aws logs tail ${group} --follow --format short`),
    '# Errors only: add --filter-pattern ERROR. EMF metric lines are in the same groups; their',
    '# values: aws cloudwatch list-metrics --namespace CryptoLake',
  ].join('\n')
}

await program.parseAsync()
