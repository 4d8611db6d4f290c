/**
 * Where a profile keeps the local stand-ins of the AWS resources: everything under
 * `.local/<profile>/` (buckets, secrets, the scheduler's memory, the function log), and the
 * packaged service shared by the profiles under `.local/package/`. The runtime and the lake read
 * the layout from here, so they cannot disagree about where a bucket lives.
 */
import { join } from 'node:path'
import { type Profile, projectRoot } from '../services/paths.ts'

export function localPaths(profile: Profile) {
  const root = join(projectRoot, '.local', profile)
  return {
    root,
    rawBucket: join(root, 'buckets', 'raw'),
    stateBucket: join(root, 'buckets', 'state'),
    onFailure: join(root, 'buckets', 'on-failure'),
    piiKey: join(root, 'secrets', 'pii-hmac.key'),
    /** When each schedule last fired (local/runtime/schedules.ts). */
    schedulerState: join(root, 'scheduler.json'),
    functionLog: join(root, 'logs', 'functions.ndjson'),
    /** The Iceberg warehouse and catalog of the local lake (local/lake/emr.ts). */
    lake: join(root, 'lake'),
    notificationsLog: join(root, 'notifications.log'),
    emrLogs: join(root, 'logs', 'emr'),
    packageDir: join(projectRoot, '.local', 'package'),
  }
}

export type LocalPaths = ReturnType<typeof localPaths>
