/**
 * Liveness and readiness probes: `GET /healthz` (the process answers) and `GET /readyz` (storage
 * is reachable and migrated, and every other registered check passes).
 */
import { Type } from '@sinclair/typebox';
import { AppError } from '../../core/errors.ts';
import type { Storage } from '../../core/ports.ts';
import { sendProblem } from '../problem.ts';
import type { ReadinessCheck, ReadinessOutcome, RouteModule } from '../server-deps.ts';

/** A readiness check that has not answered after this long counts as failed. */
const CHECK_DEADLINE_MS = 2_000;

const CheckSchema = Type.Object({
  name: Type.String(),
  ok: Type.Boolean(),
  problem: Type.Optional(Type.String()),
});

/** The probes. Both are unauthenticated: orchestrators call them without credentials. */
export const healthRoutes: RouteModule = {
  name: 'health',
  register(server, { deps }) {
    const checks: ReadinessCheck[] = [
      storageReadiness(deps.storage),
      ...(deps.readinessChecks ?? []),
    ];

    server.get(
      '/healthz',
      {
        schema: {
          tags: ['operations'],
          summary: 'Liveness: the process is up and answering',
          response: { 200: Type.Object({ status: Type.Literal('ok') }) },
        },
      },
      () => Promise.resolve({ status: 'ok' as const }),
    );

    server.get(
      '/readyz',
      {
        schema: {
          tags: ['operations'],
          summary: 'Readiness: storage reachable and migrated, and every other check passing',
          description: 'Answers 503 application/problem+json listing the failed checks otherwise.',
          response: {
            200: Type.Object({ status: Type.Literal('ready'), checks: Type.Array(CheckSchema) }),
          },
        },
      },
      async (request, reply) => {
        const results = await Promise.all(checks.map((check) => runWithDeadline(check)));
        const failed = results.find((result) => !result.ok);
        if (failed === undefined) {
          return { status: 'ready' as const, checks: results.map(publicResult) };
        }
        const detail = `not ready: ${failed.name}${failed.problem === undefined ? '' : `: ${failed.problem}`}`;
        return sendProblem(
          request,
          reply,
          new AppError(failed.code ?? 'INTERNAL', detail, { retryAfterSeconds: 5 }),
          {
            status: 503,
            title: 'Not ready',
            detail,
            extensions: { checks: results.map(publicResult) },
          },
        );
      },
    );
  },
};

/** Ready when the database answers and its schema is the one this code expects. */
export function storageReadiness(storage: Storage): ReadinessCheck {
  return {
    name: 'storage',
    async check() {
      const health = await storage.health();
      if (!health.reachable) {
        return {
          ok: false,
          code: 'STORAGE_UNAVAILABLE',
          problem: health.problem ?? 'the database is unreachable',
        };
      }
      if (health.schemaVersion !== health.codeSchemaVersion) {
        return {
          ok: false,
          code: 'STORAGE_UNAVAILABLE',
          problem:
            health.problem ??
            `the database schema is at version ${String(health.schemaVersion)}, this code needs ${String(health.codeSchemaVersion)}; run \`countersign migrate\``,
        };
      }
      return { ok: true };
    },
  };
}

interface NamedOutcome extends ReadinessOutcome {
  readonly name: string;
}

async function runWithDeadline(readiness: ReadinessCheck): Promise<NamedOutcome> {
  const { name } = readiness;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<NamedOutcome>((resolve) => {
    timer = setTimeout(() => {
      resolve({ name, ok: false, problem: `no answer within ${String(CHECK_DEADLINE_MS)} ms` });
    }, CHECK_DEADLINE_MS);
    timer.unref();
  });
  const outcome = readiness.check().then(
    (result): NamedOutcome => ({ ...result, name }),
    (error: unknown): NamedOutcome => ({
      name,
      ok: false,
      code: error instanceof AppError ? error.code : 'INTERNAL',
      // An AppError message is safe to show by contract; anything else is not.
      problem:
        error instanceof AppError && error.code !== 'INTERNAL' ? error.message : 'the check failed',
    }),
  );
  try {
    return await Promise.race([outcome, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function publicResult(result: NamedOutcome): { name: string; ok: boolean; problem?: string } {
  return {
    name: result.name,
    ok: result.ok,
    ...(result.problem === undefined ? {} : { problem: result.problem }),
  };
}
