import { Command, type Option } from 'commander'
import { profileOption } from './profile-option.ts'
import { type Profile, provision, servicesStatus, startServices, stopServices } from './services/index.ts'
import { display } from './services/paths.ts'

const servicesProfile = (): Option =>
  profileOption('run (make run), test (integration tests) or chaos (make chaos)', {
    flags: '-p, --profile <profile>',
  })

const program = new Command()
  .name('services')
  .description('Local Kafka and OpenSearch (and the Python venv) for make run and the integration tests.')
  .showHelpAfterError()

program
  .command('provision')
  .description('download Kafka and OpenSearch into .local/dist (first run only)')
  .option('--python', 'also build .local/venv (pyspark, pytest) and fetch the Spark jars', false)
  .action(async (opts: { python: boolean }) => {
    await provision({ python: opts.python })
    process.stdout.write(`provisioned${opts.python ? ' (with the Python venv)' : ''}\n`)
  })

program
  .command('up')
  .description(
    "start the profile's services in the background (reusing running ones) and print the endpoints",
  )
  .addOption(servicesProfile())
  .option('--fresh', "stop the profile's services and wipe its state first (downloads are kept)", false)
  .action(async (opts: { profile: Profile; fresh: boolean }) => {
    const services = await startServices(opts.profile, { fresh: opts.fresh })
    process.stdout.write(`kafka       ${services.kafka}\nopensearch  ${services.opensearch}\n`)
  })

program
  .command('down')
  .description('stop the services the profile started (data is kept)')
  .addOption(servicesProfile())
  .action(async (opts: { profile: Profile }) => {
    await stopServices(opts.profile)
  })

program
  .command('status')
  .description('show what runs for the profile and whether it answers')
  .addOption(servicesProfile())
  .option('--json', 'print JSON', false)
  .action(async (opts: { profile: Profile; json: boolean }) => {
    const status = await servicesStatus(opts.profile)
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(status, null, 2)}\n`)
      return
    }
    const line = (name: string, service: typeof status.kafka): string =>
      `${name.padEnd(11)} ${service.endpoint.padEnd(24)} ${service.healthy ? 'up  ' : 'down'}  ${
        service.pid === undefined ? 'no process of this profile' : `pid ${service.pid}`
      }  log ${display(service.log)}`
    const provisioned = Object.entries(status.provisioned)
      .map(([name, done]) => `${name} ${done ? 'yes' : 'no'}`)
      .join(', ')
    process.stdout.write(
      `profile ${status.profile}\n${line('kafka', status.kafka)}\n${line('opensearch', status.opensearch)}\nprovisioned: ${provisioned}\n`,
    )
  })

try {
  await program.parseAsync()
} catch (error) {
  process.stderr.write(`[services] error: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exitCode = 1
}
