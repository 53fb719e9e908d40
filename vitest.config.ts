import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration and e2e files start their own DynamoDB Local (Java) and SQS emulator on free ports.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    // The JSON report feeds .ci/run's closing "N passed, N failed" line.
    reporters: ['default', ['json', { outputFile: '.test-results/vitest.json' }]],
    env: { NODE_NO_WARNINGS: '1', LOG_LEVEL: 'SILENT' },
    // What the code under test logs is shown for failed tests only: a passing run prints the results alone.
    silent: 'passed-only',
  },
});
