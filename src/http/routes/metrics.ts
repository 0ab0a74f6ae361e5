/**
 * `GET /metrics`: Prometheus exposition of this server's registry (process metrics and HTTP
 * request durations, plus whatever other modules register).
 */
import { Type } from '@sinclair/typebox';
import type { RouteModule } from '../server-deps.ts';

/** Unauthenticated, like the probes: scrape it from inside the network, not through the edge. */
export const metricsRoutes: RouteModule = {
  name: 'metrics',
  register(server, { metrics }) {
    server.get(
      '/metrics',
      {
        schema: {
          tags: ['operations'],
          summary: 'Prometheus metrics (text exposition format)',
          response: { 200: Type.String() },
        },
      },
      async (_request, reply) => {
        const body = await metrics.metrics();
        return reply.type(metrics.contentType).send(body);
      },
    );
  },
};
