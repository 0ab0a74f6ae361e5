/**
 * `countersign status`: asks a running server whether it is alive (`/healthz`) and ready
 * (`/readyz`). Exits 0 when ready, 6 when it is unreachable or not ready.
 */
import { isAppError, type AppError } from '../../core/errors.ts';
import type { CliCommand } from '../command.ts';
import { EXIT_CODES } from '../exit-codes.ts';

interface CheckView {
  readonly name: string;
  readonly ok: boolean;
  readonly problem?: string;
}

export const statusCommand: CliCommand = {
  name: 'status',
  summary: 'ask a running server whether it is alive and ready',
  usage: 'status [--server URL]',
  usesServer: true,
  async run(context) {
    const client = context.client();
    await client.request('GET', '/healthz');
    let ready = true;
    let checks: CheckView[] = [];
    let failure: AppError | undefined;
    try {
      const body = await client.request('GET', '/readyz');
      checks = checksOf(body);
    } catch (error) {
      if (!isAppError(error) || error.code === 'UPSTREAM_UNAVAILABLE') throw error;
      ready = false;
      failure = error;
    }
    if (context.json) {
      context.printJson({
        server: client.server,
        alive: true,
        ready,
        ...(failure === undefined ? { checks } : { code: failure.code, problem: failure.message }),
      });
    } else {
      context.print(`${client.server}: alive, ${ready ? 'ready' : 'NOT ready'}`);
      for (const check of checks) context.print(`  ${check.ok ? 'ok  ' : 'FAIL'} ${check.name}`);
      if (failure !== undefined) context.print(`  ${failure.message}`);
    }
    if (failure === undefined) return 0;
    // Not ready is "unavailable" whatever the failing check's own code.
    return EXIT_CODES.STORAGE_UNAVAILABLE;
  },
};

function checksOf(body: unknown): CheckView[] {
  if (typeof body !== 'object' || body === null) return [];
  const checks = (body as { checks?: unknown }).checks;
  if (!Array.isArray(checks)) return [];
  return checks.flatMap((check: unknown) => {
    if (typeof check !== 'object' || check === null) return [];
    const { name, ok, problem } = check as Record<string, unknown>;
    if (typeof name !== 'string' || typeof ok !== 'boolean') return [];
    return [{ name, ok, ...(typeof problem === 'string' ? { problem } : {}) }];
  });
}
