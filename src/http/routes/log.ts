/**
 * The transparency log's read API (issue "Transparency log" item 6): the C2SP tlog-tiles paths
 * under `/log/`, which a CDN or static host can serve, and JSON proofs under `/v1/log/`.
 * Public: the log exists so that anyone can check it.
 */
import { createPublicKey } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { Gauge, type Registry } from 'prom-client';
import type { InclusionProof, LogReader } from '../../app/read-log.ts';
import { AppError } from '../../core/errors.ts';
import { parseTilePath } from '../../core/tlog/tiles.ts';
import type { RouteModule } from '../server-deps.ts';
import { strictObject } from '../typebox.ts';

/** A uint64 as a decimal string, the way proto3 JSON and Rekor encode int64 (sizes exceed 2^53). */
const Uint64String = Type.String({
  pattern: '^(0|[1-9][0-9]{0,19})$',
  description: 'unsigned 64-bit integer, decimal',
});
const Base64 = Type.String({ description: 'standard base64' });

const InclusionProofSchema = Type.Object({
  logIndex: Uint64String,
  treeSize: Uint64String,
  rootHash: Base64,
  leafHash: Base64,
  hashes: Type.Array(Base64, { description: 'RFC 9162 audit path, leaf to root' }),
});

/** Full tiles never change (C2SP tlog-tiles): cache them forever. Partial ones grow. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
const MUTABLE = 'public, max-age=1, must-revalidate';
const MAX_UINT64 = (1n << 64n) - 1n;

function toUint64(value: string, name: string): bigint {
  const parsed = BigInt(value);
  if (parsed > MAX_UINT64) throw new AppError('INVALID_INPUT', `${name} exceeds 2^64 - 1`);
  return parsed;
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

function renderInclusionProof(proof: InclusionProof) {
  return {
    logIndex: proof.index.toString(),
    treeSize: proof.treeSize.toString(),
    rootHash: b64(proof.rootHash),
    leafHash: b64(proof.leafHash),
    hashes: proof.hashes.map(b64),
  };
}

/**
 * The log's size and node cache, read at each scrape. Once per registry: the gauges read the log
 * of the server that registered them first.
 */
function registerLogMetrics(metrics: Registry, log: LogReader): void {
  if (metrics.getSingleMetric('countersign_log_tree_size') !== undefined) return;
  new Gauge({
    name: 'countersign_log_tree_size',
    help: 'Entries in the transparency log, as of its latest signed checkpoint',
    registers: [metrics],
    async collect() {
      // A log without a checkpoint yet (or unreadable storage, which /readyz reports) has no size.
      const checkpoint = await log.latestCheckpoint().catch(() => undefined);
      if (checkpoint !== undefined) this.set(Number(checkpoint.treeSize));
    },
  });
  new Gauge({
    name: 'countersign_log_node_cache_bytes',
    help: 'Bytes of tree hashes the log node cache holds (log.nodeCacheBytes bounds it)',
    registers: [metrics],
    collect() {
      this.set(log.nodeCacheState()?.bytes ?? 0);
    },
  });
  new Gauge({
    name: 'countersign_log_node_cache_lowest_level',
    help: 'Lowest tree level the log node cache keeps: 0 is the whole tree, 64 nothing',
    registers: [metrics],
    collect() {
      this.set(log.nodeCacheState()?.lowestLevel ?? 64);
    },
  });
  new Gauge({
    name: 'countersign_log_node_cache_tree_size',
    help: 'Tree size the log node cache is filled to; below countersign_log_tree_size while it fills',
    registers: [metrics],
    collect() {
      this.set(Number(log.nodeCacheState()?.treeSize ?? 0n));
    },
  });
}

export const logRoutes: RouteModule = {
  name: 'log',
  register(server, { deps, metrics }) {
    const { log } = deps.services;
    registerLogMetrics(metrics, log);

    server.get(
      '/v1/log',
      {
        schema: {
          tags: ['log'],
          summary: 'Who the log is (origin, log id, public key) and its latest checkpoint',
          response: {
            200: Type.Object({
              origin: Type.String(),
              logId: Type.String({ description: 'base64 SHA-256 of the log key SPKI' }),
              publicKey: Type.String({ description: 'the log key, PEM SubjectPublicKeyInfo' }),
              treeSize: Uint64String,
              rootHash: Base64,
              checkpoint: Type.String(),
            }),
          },
        },
      },
      async () => {
        const checkpoint = await log.latestCheckpoint();
        return {
          origin: log.info.origin,
          logId: b64(log.info.logId),
          publicKey: createPublicKey({
            key: Buffer.from(log.info.publicKeySpki),
            format: 'der',
            type: 'spki',
          })
            .export({ type: 'spki', format: 'pem' })
            .toString(),
          treeSize: checkpoint.treeSize.toString(),
          rootHash: b64(checkpoint.rootHash),
          checkpoint: checkpoint.note,
        };
      },
    );

    server.get(
      '/log/checkpoint',
      {
        schema: {
          tags: ['log'],
          summary: 'The latest signed checkpoint (C2SP tlog-checkpoint, a signed note)',
          produces: ['text/plain'],
        },
      },
      async (_request, reply) => {
        const checkpoint = await log.latestCheckpoint();
        return reply
          .type('text/plain; charset=utf-8')
          .header('cache-control', 'no-cache')
          .send(checkpoint.note);
      },
    );

    server.get(
      '/log/tile/*',
      {
        schema: {
          tags: ['log'],
          summary:
            'A hash tile or entry bundle (C2SP tlog-tiles), e.g. /log/tile/0/x001/234 or /log/tile/entries/000.p/7',
          params: strictObject({ '*': Type.String({ maxLength: 200 }) }),
          produces: ['application/octet-stream'],
        },
      },
      async (request, reply) => {
        // Attacker-controlled path: parseTilePath accepts canonical paths only.
        const parsed = parseTilePath(`tile/${request.params['*']}`);
        const content =
          parsed.kind === 'entries'
            ? await log.entryBundle(parsed.index, parsed.width)
            : await log.tile(parsed.level, parsed.index, parsed.width);
        return reply
          .type('application/octet-stream')
          .header('cache-control', content.isImmutable ? IMMUTABLE : MUTABLE)
          .send(Buffer.from(content.bytes));
      },
    );

    server.get(
      '/v1/log/entries/:index',
      {
        schema: {
          tags: ['log'],
          summary: 'One log entry with its inclusion proof in the latest checkpoint',
          params: strictObject({ index: Uint64String }),
          response: {
            200: Type.Object({
              logIndex: Uint64String,
              kind: Type.String(),
              body: Base64,
              integratedTime: Type.Integer(),
              inclusionProof: InclusionProofSchema,
              checkpoint: Type.String({ description: 'the signed note the proof is against' }),
            }),
          },
        },
      },
      async (request) => {
        const { entry, proof, checkpoint } = await log.entry(
          toUint64(request.params.index, 'index'),
        );
        return {
          logIndex: entry.index.toString(),
          kind: entry.kind,
          body: b64(entry.body),
          integratedTime: entry.integratedTime,
          inclusionProof: renderInclusionProof(proof),
          checkpoint: checkpoint.note,
        };
      },
    );

    server.get(
      '/v1/log/proofs/inclusion',
      {
        schema: {
          tags: ['log'],
          summary:
            'Inclusion proof of an entry in a published tree (the latest when treeSize is absent)',
          querystring: strictObject({ index: Uint64String, treeSize: Type.Optional(Uint64String) }),
          response: { 200: InclusionProofSchema },
        },
      },
      async (request) => {
        const { index, treeSize } = request.query;
        const proof = await log.inclusionProof(
          toUint64(index, 'index'),
          treeSize === undefined ? undefined : toUint64(treeSize, 'treeSize'),
        );
        return renderInclusionProof(proof);
      },
    );

    server.get(
      '/v1/log/proofs/consistency',
      {
        schema: {
          tags: ['log'],
          summary: 'Consistency proof between two published tree sizes',
          querystring: strictObject({ from: Uint64String, to: Uint64String }),
          response: {
            200: Type.Object({
              from: Uint64String,
              to: Uint64String,
              fromRootHash: Base64,
              toRootHash: Base64,
              hashes: Type.Array(Base64),
            }),
          },
        },
      },
      async (request) => {
        const proof = await log.consistencyProof(
          toUint64(request.query.from, 'from'),
          toUint64(request.query.to, 'to'),
        );
        return {
          from: proof.from.toString(),
          to: proof.to.toString(),
          fromRootHash: b64(proof.fromRootHash),
          toRootHash: b64(proof.toRootHash),
          hashes: proof.hashes.map(b64),
        };
      },
    );
  },
};
