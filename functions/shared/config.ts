/**
 * One typed config per function: the environment is parsed once, at cold start, by a zod
 * schema; a bad environment fails listing every missing or malformed key at once.
 */
import { z } from 'zod'

export class ConfigError extends Error {
  override name = 'ConfigError'
}

export function loadConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const parsed = schema.safeParse(env)
  if (parsed.success) return parsed.data
  const problems = parsed.error.issues.map(
    (issue) => `  ${issue.path.join('.') || '(env)'}: ${issue.message}`,
  )
  throw new ConfigError(`invalid environment:\n${problems.join('\n')}`)
}

/** Comma-separated list, trimmed, empties dropped. */
export const csv = z.string().transform((text) =>
  text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0),
)

export const positiveInt = z.coerce.number().int().positive()

export const KafkaEnv = {
  KAFKA_BROKERS: csv.pipe(z.array(z.string().min(3)).min(1, 'at least one broker host:port')),
  /** `none` = PLAINTEXT (local broker); `iam` = TLS + SASL/OAUTHBEARER signed for MSK IAM. */
  KAFKA_AUTH: z.enum(['none', 'iam']).default('none'),
  AWS_REGION: z.string().default('us-east-1'),
}

export const OpenSearchEnv = {
  OPENSEARCH_URL: z.url(),
  /** `none` = plain HTTP (local node); `sigv4` = requests signed for Amazon OpenSearch Service. */
  OPENSEARCH_AUTH: z.enum(['none', 'sigv4']).default('none'),
  AWS_REGION: z.string().default('us-east-1'),
}
