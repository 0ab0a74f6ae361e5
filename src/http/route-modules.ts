/**
 * Every route module, in registration order. Add a resource by adding its module here.
 */
import type { RouteModule } from './server-deps.ts';
import { decisionRoutes } from './routes/decisions.ts';
import { exceptionRoutes } from './routes/exceptions.ts';
import { governanceRoutes } from './routes/governance.ts';
import { healthRoutes } from './routes/health.ts';
import { logRoutes } from './routes/log.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { openApiRoutes } from './routes/openapi.ts';
import { passkeyRoutes } from './routes/passkeys.ts';
import { requestRoutes } from './routes/requests.ts';
import { signingRoutes } from './routes/signing.ts';
import { createTimestampRoutes } from './routes/timestamp.ts';
import { tokenRoutes } from './routes/tokens.ts';
import { uiRoutes } from './routes/ui.ts';
import { webhookRoutes } from './routes/webhooks.ts';

export const ROUTE_MODULES: readonly RouteModule[] = [
  healthRoutes,
  metricsRoutes,
  openApiRoutes,
  tokenRoutes,
  logRoutes,
  governanceRoutes,
  decisionRoutes,
  signingRoutes,
  requestRoutes,
  webhookRoutes,
  exceptionRoutes,
  passkeyRoutes,
  uiRoutes,
  {
    name: 'timestamp',
    register: (server, context) =>
      createTimestampRoutes(context.deps.services.timestamps).register(server, context),
  },
];
