/**
 * `GET /openapi.json`: the OpenAPI 3.1 document generated from the route schemas.
 */
import type { RouteModule } from '../server-deps.ts';

export const openApiRoutes: RouteModule = {
  name: 'openapi',
  register(server) {
    server.get('/openapi.json', { schema: { hide: true } }, () =>
      Promise.resolve(server.swagger()),
    );
  },
};
