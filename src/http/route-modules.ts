/**
 * Every route module, in registration order. Add a resource by adding its module here.
 */
import type { RouteModule } from './server-deps.ts';
import { decisionRoutes } from './routes/decisions.ts';
import { governanceRoutes } from './routes/governance.ts';
import { healthRoutes } from './routes/health.ts';
import { logRoutes } from './routes/log.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { openApiRoutes } from './routes/openapi.ts';
import { signingRoutes } from './routes/signing.ts';
import { createTimestampRoutes } from './routes/timestamp.ts';
import { tokenRoutes } from './routes/tokens.ts';

export const ROUTE_MODULES: readonly RouteModule[] = [
  healthRoutes,
  metricsRoutes,
  openApiRoutes,
  tokenRoutes,
  logRoutes,
  governanceRoutes,
  decisionRoutes,
  signingRoutes,
  {
    name: 'timestamp',
    register: (server, context) =>
      createTimestampRoutes(context.deps.services.timestamps).register(server, context),
  },
];
