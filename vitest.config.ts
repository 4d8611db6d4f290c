import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['tests/unit/**/*.test.ts'] } },
      {
        test: {
          name: 'contract',
          include: ['tests/contract/**/*.test.ts'],
          // `serverless package` of dev and prod, once for every contract file.
          globalSetup: ['tests/contract/helpers/package-global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts', 'tests/e2e/**/*.test.ts'],
          // The real broker and node are shared by every file: one file at a time keeps them honest.
          fileParallelism: false,
          // Starts the test profile's Kafka and OpenSearch once for the whole run.
          globalSetup: ['local/services/vitest-global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
})
