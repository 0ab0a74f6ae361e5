/**
 * Signing end to end (issue "Sign and verify" acceptance, DESIGN.md §8):
 *
 * - baseline: a bare Fastify 5 route that makes one ECDSA P-256 signature over the posted digest
 *   (key parsed once) and returns it, the work no signing service can skip;
 * - `POST /v1/sign` of the demo service on SQLite (token check, policy, ephemeral certificate,
 *   log commit, timestamp, bundle), one fresh pre-minted workload token per request.
 *
 * Both listen on 127.0.0.1 and are driven by the same HTTP client (node:http, keep-alive) with 16
 * concurrent callers posting the same request shape, so the ratio compares servers, not clients.
 * Latency is what each caller saw under that load. Client and server share this process and the
 * machine's cores, for both measurements alike. Target ratio: at least 0.25.
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { Agent, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import type { Bench } from './support/bench.ts';
import { signArtifactBody, startBenchDemoService } from './support/demo-service.ts';

const CLIENTS = 16;
const BASELINE = `bare Fastify route, 1 P-256 signature, HTTP x${String(CLIENTS)} clients`;
const BASELINE_MS = 4000;
const SIGN_MS = 8000;
/** Untimed calls per client before timing (`measureConcurrent`'s default). */
const WARMUP_PER_CLIENT = 2;

export default async function signingBench(bench: Bench): Promise<void> {
  await measureBaseline(bench);
  await measureService(bench);
}

async function measureBaseline(bench: Bench): Promise<void> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const app = Fastify({ logger: false });
  app.post<{ Body: { subject: { digest: { value: string } } } }>('/sign', (req, reply) => {
    const digest = Buffer.from(req.body.subject.digest.value, 'hex');
    const signature = sign('sha256', digest, privateKey).toString('base64');
    return reply.code(201).send({ signature });
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const client = createClient(url);
  try {
    const bodies = requestBodies(0);
    await bench.measureConcurrent(
      BASELINE,
      (call) => client.post('/sign', 'baseline', bodies(call), 201),
      { concurrency: CLIENTS, durationMs: BASELINE_MS, warmupCalls: WARMUP_PER_CLIENT },
    );
  } finally {
    client.close();
    await app.close();
  }
}

async function measureService(bench: Bench): Promise<void> {
  const demo = await startBenchDemoService();
  try {
    await demo.service.server.listen({ host: '127.0.0.1', port: 0 });
    const { port } = demo.service.server.server.address() as AddressInfo;
    const client = createClient(`http://127.0.0.1:${String(port)}`);
    try {
      const bodies = requestBodies(1);
      // Size the token pool from an untimed probe, so no token is minted while timing.
      const probe = await demo.mintTokens(CLIENTS * 8);
      const probeStarted = performance.now();
      await Promise.all(
        Array.from({ length: CLIENTS }, async (_, worker) => {
          for (let i = 0; i < 8; i++) {
            const call = worker * 8 + i;
            await client.post('/v1/sign', probe[call] ?? '', bodies(-1_000_000 - call), 201);
          }
        }),
      );
      const probeRate = (probe.length * 1000) / (performance.now() - probeStarted);
      const needed =
        Math.ceil(probeRate * (SIGN_MS / 1000) * 2) + CLIENTS * (WARMUP_PER_CLIENT + 2);
      const tokens = await demo.mintTokens(needed);
      // Warm-up calls get negative numbers; timed ones count up from 0. Each takes its own token.
      const tokenFor = (call: number) => {
        const index = call < 0 ? -1 - call : CLIENTS * WARMUP_PER_CLIENT + call;
        const token = tokens[index];
        if (token === undefined) throw new Error(`token pool of ${String(needed)} exhausted`);
        return token;
      };
      await bench.measureConcurrent(
        `POST /v1/sign end to end (demo, SQLite), HTTP x${String(CLIENTS)} clients`,
        (call) => client.post('/v1/sign', tokenFor(call), bodies(call), 201),
        {
          concurrency: CLIENTS,
          durationMs: SIGN_MS,
          warmupCalls: WARMUP_PER_CLIENT,
          baseline: BASELINE,
        },
      );
    } finally {
      client.close();
    }
  } finally {
    await demo.close();
  }
}

/** The request body of call `call`: a distinct artifact digest each (`salt` separates runs). */
function requestBodies(salt: number): (call: number) => Buffer {
  return (call) => {
    const digest = createHash('sha256').update(`artifact ${String(salt)} ${String(call)}`);
    return Buffer.from(JSON.stringify(signArtifactBody('artifact.bin', digest.digest('hex'))));
  };
}

interface HttpClient {
  /** POSTs JSON `body` with `Authorization: Bearer token`; resolves with the response body. */
  post(path: string, token: string, body: Buffer, expectedStatus: number): Promise<Buffer>;
  close(): void;
}

/** A keep-alive HTTP/1.1 client with one connection per concurrent caller. */
function createClient(baseUrl: string): HttpClient {
  const { hostname, port } = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS, maxFreeSockets: CLIENTS });
  return {
    post: (path, token, body, expectedStatus) =>
      new Promise<Buffer>((resolve, reject) => {
        const req = request(
          {
            agent,
            hostname,
            port,
            path,
            method: 'POST',
            headers: {
              authorization: `Bearer ${token}`,
              'content-type': 'application/json',
              'content-length': body.length,
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('error', reject);
            res.on('end', () => {
              const text = Buffer.concat(chunks);
              if (res.statusCode === expectedStatus) resolve(text);
              else {
                reject(
                  new Error(
                    `POST ${path}: ${String(res.statusCode)} ${text.toString('utf8').slice(0, 300)}`,
                  ),
                );
              }
            });
          },
        );
        req.on('error', reject);
        req.end(body);
      }),
    close: () => agent.destroy(),
  };
}
