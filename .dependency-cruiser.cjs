/**
 * The dependency rule: functions → shared/<capability> → shared/domain. The domain is pure; function
 * files only register triggers; production code never reaches into the local runtime or the tests.
 */
module.exports = {
  forbidden: [
    {
      name: 'domain-is-pure',
      comment: 'shared/domain imports nothing of ours outside itself, and no I/O or Azure packages.',
      severity: 'error',
      from: { path: '^shared/domain' },
      to: {
        pathNot: ['^shared/domain', '^node_modules/zod'],
        dependencyTypesNot: ['type-only'],
      },
    },
    {
      name: 'domain-no-node-io',
      severity: 'error',
      from: { path: '^shared/domain' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'production-code-stays-out-of-local-and-test',
      comment: 'functions/ and shared/ are deployed; the local runtime, tests and benchmarks are not.',
      severity: 'error',
      from: { path: '^(functions|shared)/' },
      to: { path: '^(local|test|bench)/' },
    },
    {
      name: 'functions-only-register',
      comment: 'Nothing imports a function file; function files hold registrations and input mapping only.',
      severity: 'error',
      from: {},
      to: { path: '^functions/' },
    },
    {
      name: 'use-cases-depend-on-ports-not-adapters',
      comment: 'Use cases talk to ports; only function files and the local runtime wire adapters in.',
      severity: 'error',
      from: { path: '^shared/(sync|provisioning|onboarding|notifications|health|operations|inventory|events|lifecycle)/' },
      to: { path: '^shared/adapters/' },
    },
    {
      name: 'adapters-do-not-depend-on-use-cases',
      severity: 'error',
      from: { path: '^shared/adapters/' },
      to: { path: '^shared/(sync|provisioning|onboarding|notifications|inventory|events|lifecycle)/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: { path: '^(functions|shared)/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    exclude: { path: '(^|/)(dist|node_modules)/' },
  },
};
