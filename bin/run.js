#!/usr/bin/env node
// The AWS SDK's notice about future Node versions is not for our users (see src/providers/aws/clients.ts).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
// `anycloud validate` must start fast (it runs on every pull request): a plain validate call is
// served without loading oclif; everything else, and any unusual validate call, goes to oclif.
if (process.argv[2] === 'validate') {
  const {fastValidate} = await import('../dist/cli/fast-validate.js')
  const code = fastValidate(process.argv.slice(2))
  if (code !== undefined) process.exit(code)
}

const {execute} = await import('@oclif/core')
await execute({dir: import.meta.url})
