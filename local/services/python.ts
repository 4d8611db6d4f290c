import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { display, distPaths, projectRoot, SPARK_JARS } from './paths.ts'
import { type Log, runOrThrow, seconds } from './process.ts'
import { findJava, findPython, mvn } from './toolchain.ts'

const MARKER_FILE = join(distPaths.venv, '.provisioned')

/** The requirements files the venv is built from: the Spark side, and the tests' S3 server. */
const REQUIREMENTS = [distPaths.requirements, join(projectRoot, 'local', 'services', 's3-requirements.txt')]

/** What the venv was built from: re-installed when a requirements file changes. */
function fingerprint(pythonVersion: string): string {
  const hash = createHash('sha256')
  for (const file of REQUIREMENTS) hash.update(readFileSync(file))
  return `${pythonVersion} ${hash.digest('hex')}\n`
}

function venvUpToDate(): boolean {
  if (!existsSync(MARKER_FILE) || !existsSync(distPaths.venvPython)) return false
  const recorded = readFileSync(MARKER_FILE, 'utf8')
  const pythonVersion = recorded.split(' ')[0] ?? ''
  return recorded === fingerprint(pythonVersion)
}

export function pythonProvisioned(): boolean {
  return venvUpToDate() && SPARK_JARS.every((jar) => existsSync(join(distPaths.jars, jar.file)))
}

/**
 * Builds `.local/venv` from emr/requirements.txt (pyspark, pytest) and
 * local/services/s3-requirements.txt (moto's S3 server for the integration tests), and fetches the Iceberg Spark
 * runtime and SQLite JDBC jars into `.local/dist/jars`. Skips whatever is already in place;
 * pip's cache makes a rebuild cheap.
 */
export async function provisionPython(log: Log): Promise<void> {
  if (!venvUpToDate()) {
    const python = await findPython()
    const started = Date.now()
    if (!existsSync(distPaths.venvPython)) {
      log(`python: creating ${display(distPaths.venv)} with Python ${python.version}...`)
      await runOrThrow('python: creating the venv', python.bin, ['-m', 'venv', distPaths.venv], {
        hint: 'The venv module is missing: `apt-get install python3-venv`.',
      })
    }
    log(
      `python: installing ${REQUIREMENTS.map(display).join(' and ')} into ${display(distPaths.venv)} (pyspark is ~300 MB, first run only)...`,
    )
    await runOrThrow(
      'python: pip install',
      distPaths.venvPython,
      [
        '-m',
        'pip',
        'install',
        '--disable-pip-version-check',
        ...REQUIREMENTS.flatMap((file) => ['-r', file]),
      ],
      {
        hint: 'pip could not install the requirements: check network access to PyPI and any pip.conf mirror.',
      },
    )
    writeFileSync(MARKER_FILE, fingerprint(python.version))
    log(`python: venv ready (${seconds(Date.now() - started)})`)
  }
  const missing = SPARK_JARS.filter((jar) => !existsSync(join(distPaths.jars, jar.file)))
  if (missing.length > 0) {
    // Only Maven runs here, and any Java it starts on will do.
    const java = await findJava({ min: 8, max: 99, for: 'Maven' })
    mkdirSync(distPaths.jars, { recursive: true })
    for (const jar of missing) {
      const started = Date.now()
      log(`python: downloading ${jar.artifact} from Maven Central (first run only)...`)
      await mvn(
        `python: downloading ${jar.artifact}`,
        ['dependency:copy', `-Dartifact=${jar.artifact}`, `-DoutputDirectory=${distPaths.jars}`],
        java,
      )
      if (!existsSync(join(distPaths.jars, jar.file))) {
        throw new Error(`python: Maven finished but ${display(join(distPaths.jars, jar.file))} is missing`)
      }
      log(`python: ${jar.file} in ${display(distPaths.jars)} (${seconds(Date.now() - started)})`)
    }
  }
}
