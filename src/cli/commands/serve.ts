/**
 * `countersign serve`: opens storage (applying migrations), builds the server, listens, and shuts
 * down gracefully on SIGINT or SIGTERM.
 */
import type { AddressInfo } from 'node:net';
import type { CliCommand } from '../command.ts';
import { AppError } from '../../core/errors.ts';

/** How long in-flight requests get to finish after a stop signal before the process gives up. */
const SHUTDOWN_GRACE_MS = 10_000;

export const serveCommand: CliCommand = {
  name: 'serve',
  summary: 'run the Countersign service (HTTP API, docs, metrics)',
  usage: 'serve [--port PORT] [--host HOST] [--demo] [--data-dir DIR]',
  details: [
    'Opens the database (SQLite in the data directory, or PostgreSQL with --database-url /',
    'COUNTERSIGN_DATABASE_URL), applies pending migrations, and listens until SIGINT or SIGTERM;',
    'then it stops accepting connections and lets in-flight requests finish.',
    'Logs are JSON lines on stdout; the start-up banner goes to stderr.',
  ].join('\n'),
  readsConfig: true,
  async run(context) {
    const config = context.loadConfig();
    const { composeService } = await import('../../compose.ts');
    const service = await composeService(config, { migrate: true });
    let address: AddressInfo;
    try {
      await service.server.listen({ host: config.server.host, port: config.server.port });
      address = service.server.server.address() as AddressInfo;
    } catch (error) {
      await service.close();
      throw listenError(error, config.server.host, config.server.port);
    }
    // Deliveries queued while the service was down go out now; `service.close()` stops it.
    service.webhookWorker.start();
    const loopback = ['127.0.0.1', '::1', '::', '0.0.0.0'].includes(config.server.host);
    const shownHost = loopback
      ? 'localhost'
      : address.family === 'IPv6'
        ? `[${address.address}]`
        : address.address;
    const url = `http://${shownHost}:${String(address.port)}`;

    if (context.json) {
      context.printJson({
        event: 'listening',
        url,
        publicUrl: config.server.publicUrl,
        storage: config.storage.engine,
        dataDir: config.dataDir,
        ...(service.demo === undefined ? {} : { demoAdminTokenFile: service.demo.adminTokenPath }),
        ...(service.devIssuer === undefined ? {} : { devIssuerUrl: service.devIssuer.url }),
      });
    } else {
      const lines = [
        `Countersign is listening on ${url} (storage: ${config.storage.engine}${config.storage.engine === 'sqlite' ? ` in ${config.dataDir}` : ''})`,
      ];
      if (service.demo !== undefined) {
        lines.push(
          `Demo workspace ready. Admin API token ${service.demo.created ? 'created' : 'reused'}: ${service.demo.adminTokenPath} (mode 0600)`,
        );
      }
      if (service.devIssuer !== undefined) {
        lines.push(
          `Development OIDC issuer (INSECURE, loopback only) at ${service.devIssuer.url}, trusted by the demo governance (version ${String(service.demo?.governanceVersion ?? 0)}).`,
        );
      }
      lines.push(
        '',
        'Try next:',
        `  curl ${url}/healthz`,
        `  open ${url}/docs                 interactive API documentation`,
        `  npm run countersign -- status --server ${url}`,
      );
      if (service.demo !== undefined) {
        lines.push(
          `  curl -H "Authorization: Bearer $(cat ${service.demo.adminTokenPath})" ${url}/v1/tokens`,
          '',
          'Sign a file as the demo workload and verify it offline (see docs/signing.md):',
          `  echo hello > ./some-file`,
          `  COUNTERSIGN_IDENTITY_TOKEN=$(npx countersign dev token --data-dir ${config.dataDir}) npx countersign sign ./some-file --product demo --channel dev --server ${url}`,
          `  npx countersign trust export --out trusted_root.json --server ${url}`,
          `  npx countersign verify ./some-file --trusted-root trusted_root.json --product demo --channel dev`,
        );
      }
      lines.push('', 'Stop with Ctrl+C.');
      context.note(lines.join('\n'));
    }

    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGINT', () => resolve('SIGINT'));
      process.once('SIGTERM', () => resolve('SIGTERM'));
    });
    context.note(`${signal}: stopping; letting in-flight requests finish`);
    const grace = setTimeout(() => {
      context.note(
        `in-flight requests did not finish within ${String(SHUTDOWN_GRACE_MS / 1000)} s; exiting`,
      );
      process.exit(70);
    }, SHUTDOWN_GRACE_MS);
    grace.unref();
    await service.close();
    clearTimeout(grace);
    context.note('stopped');
    return 0;
  },
};

/** A listen failure the operator can act on: the port is taken, or not theirs to use. */
function listenError(error: unknown, host: string, port: number): unknown {
  const code = (error as { code?: unknown } | undefined)?.code;
  const where = `${host}:${String(port)}`;
  if (code === 'EADDRINUSE') {
    return new AppError('CONFLICT', `cannot listen on ${where}: the port is in use`, {
      cause: error,
      hint: 'stop what is listening there (e.g. another countersign serve), or pick another --port',
    });
  }
  if (code === 'EACCES' || code === 'EADDRNOTAVAIL') {
    return new AppError(
      'INVALID_INPUT',
      `cannot listen on ${where}: ${code === 'EACCES' ? 'permission denied' : 'no such local address'}`,
      {
        cause: error,
        hint:
          code === 'EACCES'
            ? 'ports below 1024 need privileges: pick --port 1024 or higher'
            : 'pick an address of this machine with --host (127.0.0.1 or 0.0.0.0)',
      },
    );
  }
  return error;
}
