/** Plain-text tables for list commands: columns padded to their widest cell, two spaces apart. */
import type { CommandContext } from './command.ts';

/** Prints `rows` (the first is the header) as aligned columns. */
export function printTable(context: CommandContext, rows: readonly (readonly string[])[]): void {
  const widths =
    rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  for (const row of rows) {
    context.print(
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd(),
    );
  }
}

/** The `details` line of commands that talk to a server with an API token. */
export const SERVER_AUTH_DETAILS = [
  'Talks to the server named by --server or COUNTERSIGN_SERVER (default http://localhost:8080),',
  'authenticating with the API token from COUNTERSIGN_TOKEN or --token. Prefer the variable:',
  'command-line flags are visible to other users in the process list.',
].join('\n');
