import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { kafkaHealthy } from './health.ts'
import { display, distPaths, KAFKA_VERSION, type Profile, profilePaths, type ServicePorts } from './paths.ts'
import {
  type Log,
  runOrThrow,
  type StartResult,
  seconds,
  serviceProcess,
  spawnDetached,
  startService,
} from './process.ts'
import { findServiceJava, type Java, mvn } from './toolchain.ts'

const HOST = '127.0.0.1'
const START_TIMEOUT_MS = 90_000
const MARKER_FILE = '.provisioned'

/** The broker and its logging, pulled from Maven Central by `dependency:copy-dependencies`. */
const POM = `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.services</groupId>
  <artifactId>kafka-dist</artifactId>
  <version>${KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>${KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>2.24.3</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.24.3</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>2.0.17</version></dependency>
  </dependencies>
</project>
`

/** Console logging only (stdout goes to kafka.log); the chatty request and state-change loggers stay quiet. */
const LOG4J2_YAML = `Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.request.logger
        level: WARN
      - name: kafka.network.RequestChannel$
        level: WARN
      - name: state.change.logger
        level: WARN
      - name: kafka.authorizer.logger
        level: WARN
      - name: org.apache.kafka.controller
        level: INFO
`

function libsClasspath(): string {
  // The JVM expands "dir/*" itself: no shell involved.
  return join(distPaths.kafka, 'libs', '*')
}

export function kafkaProvisioned(): boolean {
  return existsSync(join(distPaths.kafka, MARKER_FILE))
}

/** Downloads the Kafka jars into `.local/dist/kafka-<version>/libs` unless already there. */
export async function provisionKafka(log: Log): Promise<void> {
  if (kafkaProvisioned()) return
  const started = Date.now()
  log(`kafka: downloading ${KAFKA_VERSION} jars from Maven Central (first run only)...`)
  const java = await findServiceJava('Kafka')
  // Built next to the target and renamed at the end, so an interrupted download never looks complete.
  const staging = `${distPaths.kafka}.partial`
  rmSync(staging, { recursive: true, force: true })
  mkdirSync(staging, { recursive: true })
  const pom = join(staging, 'pom.xml')
  writeFileSync(pom, POM)
  await mvn(
    `kafka: downloading ${KAFKA_VERSION} jars`,
    [
      '-f',
      pom,
      'dependency:copy-dependencies',
      `-DoutputDirectory=${join(staging, 'libs')}`,
      '-DincludeScope=runtime',
    ],
    java,
  )
  rmSync(pom)
  // Kafka still depends on slf4j-api 1.7; two slf4j-api jars on one classpath break the log4j binding.
  for (const jar of readdirSync(join(staging, 'libs'))) {
    if (/^slf4j-api-1\./.test(jar)) rmSync(join(staging, 'libs', jar))
  }
  writeFileSync(join(staging, MARKER_FILE), `kafka_2.13 ${KAFKA_VERSION}\n`)
  rmSync(distPaths.kafka, { recursive: true, force: true })
  renameSync(staging, distPaths.kafka)
  const count = readdirSync(join(distPaths.kafka, 'libs')).length
  log(`kafka: ${count} jars in ${display(distPaths.kafka)} (${seconds(Date.now() - started)})`)
}

function serverProperties(profile: Profile, ports: ServicePorts): string {
  const paths = profilePaths(profile)
  const settings: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    'controller.quorum.voters': `1@${HOST}:${ports.kafkaController}`,
    listeners: `PLAINTEXT://${HOST}:${ports.kafka},CONTROLLER://${HOST}:${ports.kafkaController}`,
    'advertised.listeners': `PLAINTEXT://${HOST}:${ports.kafka}`,
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'log.dirs': paths.kafka.data,
    'num.partitions': 1,
    'default.replication.factor': 1,
    'min.insync.replicas': 1,
    'offsets.topic.replication.factor': 1,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'share.coordinator.state.topic.replication.factor': 1,
    'share.coordinator.state.topic.min.isr': 1,
    // Consumers in tests and the event-source emulator join at once instead of after 3 s.
    'group.initial.rebalance.delay.ms': 0,
    // Topics come from one declaration, as on MSK; a typo must fail, not create a topic.
    'auto.create.topics.enable': false,
  }
  const lines = Object.entries(settings).map(([key, value]) => `${key}=${value}`)
  return `# Written by local/services/kafka.ts on every start; edit that file instead.\n${lines.join('\n')}\n`
}

function javaArgs(profile: Profile, heap: boolean): string[] {
  const args = [
    '-cp',
    libsClasspath(),
    `-Dlog4j2.configurationFile=${profilePaths(profile).kafka.log4j}`,
    // Log4j's own shutdown hook would silence the broker's last lines, which tell whether it shut down cleanly.
    '-Dlog4j2.shutdownHookEnabled=false',
  ]
  return heap ? ['-Xmx512m', '-XX:+ExitOnOutOfMemoryError', '-Djava.awt.headless=true', ...args] : args
}

/** Formats the KRaft metadata directory once; later starts keep the data. */
async function formatStorage(profile: Profile, java: Java, log: Log): Promise<void> {
  const paths = profilePaths(profile)
  if (existsSync(join(paths.kafka.data, 'meta.properties'))) return
  const clusterId = (
    await runOrThrow('kafka: generating a cluster id', java.bin, [
      ...javaArgs(profile, false),
      'kafka.tools.StorageTool',
      'random-uuid',
    ])
  )
    .trim()
    .split('\n')
    .at(-1)
    ?.trim()
  if (!clusterId || !/^[A-Za-z0-9_-]{22}$/.test(clusterId)) {
    throw new Error(`kafka: StorageTool random-uuid printed no cluster id (got ${JSON.stringify(clusterId)})`)
  }
  // No --standalone: the quorum is given by controller.quorum.voters.
  await runOrThrow('kafka: formatting storage', java.bin, [
    ...javaArgs(profile, false),
    'kafka.tools.StorageTool',
    'format',
    '-t',
    clusterId,
    '-c',
    paths.kafka.properties,
  ])
  log(`kafka: formatted ${display(paths.kafka.data)} (cluster ${clusterId})`)
}

/**
 * Makes sure a broker answers on the profile's port: reuses a healthy one, else starts ours
 * detached and waits until it answers metadata requests. The caller holds the profile lock.
 */
export function startKafka(profile: Profile, ports: ServicePorts, log: Log): Promise<StartResult> {
  const paths = profilePaths(profile)
  return startService(
    {
      name: 'kafka',
      profile,
      host: HOST,
      endpoint: `${HOST}:${ports.kafka}`,
      healthy: () => kafkaHealthy(HOST, ports.kafka),
      ports: [ports.kafka, ports.kafkaController],
      owner: 'a Kafka broker',
      pidFile: paths.kafka.pid,
      marker: paths.kafka.properties,
      logFile: paths.kafka.log,
      timeoutMs: START_TIMEOUT_MS,
      prepare: async () => {
        const java = await findServiceJava('Kafka')
        mkdirSync(paths.kafka.data, { recursive: true })
        writeFileSync(paths.kafka.properties, serverProperties(profile, ports))
        writeFileSync(paths.kafka.log4j, LOG4J2_YAML)
        await formatStorage(profile, java, log)
        return java
      },
      spawn: (java) =>
        spawnDetached({
          name: 'kafka',
          command: java.bin,
          args: [...javaArgs(profile, true), 'kafka.Kafka', paths.kafka.properties],
          cwd: paths.kafka.dir,
          env: process.env,
          logFile: paths.kafka.log,
          pidFile: paths.kafka.pid,
        }),
      stop: () => stopKafka(profile, () => undefined),
    },
    log,
  )
}

const kafkaProcess = (profile: Profile) => {
  const paths = profilePaths(profile).kafka
  return serviceProcess('kafka', paths.pid, paths.properties)
}

/** Stops the profile's broker if we started one (clean shutdown first, so its data stays usable). */
export const stopKafka = (profile: Profile, log: Log) => kafkaProcess(profile).stop(log)

export const kafkaPid = (profile: Profile) => kafkaProcess(profile).pid()
