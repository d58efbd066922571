#!/usr/bin/env node
// Runs the TypeScript sources directly: Node.js 24 strips types natively.
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2));
