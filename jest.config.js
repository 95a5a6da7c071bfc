// Jest runs the TypeScript sources as native ESM (ts-jest, transpile-only; `npm run typecheck` does the types).
// Tests talk to real Redis and to the real ClickHouse engine (chdb); see README "Tests".
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, isolatedModules: true, tsconfig: 'tsconfig.json' }],
  },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  globalSetup: '<rootDir>/test/global-setup.js',
  testTimeout: 30000,
  // Some libraries (BullMQ's blocking Redis connections, chdb's native threads) keep the event loop alive
  // after their owners close; without this a green run would hang CI instead of exiting.
  forceExit: true,
}
