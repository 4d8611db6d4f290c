/**
 * The `--profile` option every local CLI takes: which local environment (ports, data, state
 * directories) a command works on. One definition, so every command accepts the same profiles.
 */
import { InvalidArgumentError, Option } from 'commander'
import { isProfile, PROFILES, type Profile } from './services/paths.ts'

export function parseProfile(value: string): Profile {
  if (!isProfile(value)) throw new InvalidArgumentError(`expected one of ${PROFILES.join(', ')}.`)
  return value
}

export function profileOption(
  description = 'local environment: run (make run), test or chaos (make chaos)',
  { flags = '--profile <profile>', defaultProfile = 'run' as Profile } = {},
): Option {
  return new Option(flags, description).default(defaultProfile).argParser(parseProfile)
}
