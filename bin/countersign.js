#!/usr/bin/env node
// Launcher of the `countersign` command. Countersign runs its TypeScript sources directly, which
// needs Node.js 24 or newer (type stripping on by default); say so plainly on anything older.
const [major] = process.versions.node.split('.').map(Number);
if (major === undefined || major < 24) {
  process.stderr.write(
    `error: countersign needs Node.js 24 or newer; this is Node.js ${process.versions.node}\n` +
      'hint: install Node.js 24 LTS (https://nodejs.org), or run it through npm: `npm run countersign -- --help`\n',
  );
  process.exit(2);
}
const { main } = await import('../src/cli/main.ts');
await main();
