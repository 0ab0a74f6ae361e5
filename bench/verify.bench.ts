/**
 * Offline verification (issue "Sign and verify" acceptance, DESIGN.md §8): the demo service signs
 * 1,000 distinct 1 KiB artifacts (untimed), then both verifiers check the same 1,000 bundles
 * against the service's trusted root (GET /v1/trust/trusted-root.json):
 *
 * - baseline: `@sigstore/verify` 4.x, `Verifier` over `toTrustMaterial(TrustedRoot.fromJSON(…))`
 *   with `ctlogThreshold: 0` (our CA embeds no SCTs), `verify(toSignedEntity(bundleFromJSON(…),
 *   artifact))`;
 * - ours: `verifyBundle({ bundle: parseBundle(…), artifact: { bytes }, trustedRoot })`.
 *
 * The trusted root is parsed once for each (what a verifier process does); each bundle is parsed
 * from its JSON value inside the timed call for both. One call verifies one bundle; each is verified once, in turn.
 * Target ratio: at least 10×.
 */
import { createHash, randomBytes } from 'node:crypto';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import { parseBundle } from '../src/core/sigstore/bundle.ts';
import { parseTrustedRoot } from '../src/core/sigstore/trusted-root.ts';
import { verifyBundle } from '../src/core/verify/verify-bundle.ts';
import type { Bench } from './support/bench.ts';
import { signArtifactBody, startBenchDemoService } from './support/demo-service.ts';

const BUNDLES = 1000;
const ARTIFACT_BYTES = 1024;
const BASELINE = `@sigstore/verify 4.x, ${BUNDLES.toLocaleString('en-US')} bundles`;

interface Signed {
  readonly artifact: Buffer;
  /** The bundle's proto3 JSON value, as a verifier reads it from disk. */
  readonly bundle: unknown;
}

export default async function verifyBench(bench: Bench): Promise<void> {
  const { signed, rootJson } = await signArtifacts(BUNDLES);
  const at = (call: number): Signed => {
    const item = signed[((call % BUNDLES) + BUNDLES) % BUNDLES];
    if (item === undefined) throw new Error('no bundle');
    return item;
  };

  const verifier = new Verifier(toTrustMaterial(TrustedRoot.fromJSON(rootJson)), {
    ctlogThreshold: 0,
  });
  const theirs = (call: number) => {
    const { bundle, artifact } = at(call);
    verifier.verify(toSignedEntity(bundleFromJSON(bundle), artifact));
  };
  const trustedRoot = parseTrustedRoot(rootJson);
  const ours = (call: number) => {
    const { bundle, artifact } = at(call);
    verifyBundle({ bundle: parseBundle(bundle), artifact: { bytes: artifact }, trustedRoot });
  };
  // Every bundle must verify with both: a timed call that throws fails the bench. Both must
  // also reject a bundle for another artifact.
  const wrong = { bundle: at(0).bundle, artifact: at(1).artifact };
  const rejects = (verify: () => void) => {
    try {
      verify();
      return false;
    } catch {
      return true;
    }
  };
  if (
    !rejects(() => verifier.verify(toSignedEntity(bundleFromJSON(wrong.bundle), wrong.artifact))) ||
    !rejects(() =>
      verifyBundle({
        bundle: parseBundle(wrong.bundle),
        artifact: { bytes: wrong.artifact },
        trustedRoot,
      }),
    )
  ) {
    throw new Error('a verifier accepted a bundle for another artifact');
  }

  await bench.measure(BASELINE, theirs, { calls: BUNDLES });
  await bench.measure(
    `Countersign verifyBundle, same ${BUNDLES.toLocaleString('en-US')} bundles`,
    ours,
    { calls: BUNDLES, baseline: BASELINE },
  );
}

/** Signs `count` random artifacts with the demo service; returns them and its trusted root. */
async function signArtifacts(
  count: number,
): Promise<{ signed: Signed[]; rootJson: Record<string, unknown> }> {
  const demo = await startBenchDemoService();
  try {
    const { server } = demo.service;
    const tokens = await demo.mintTokens(count);
    const artifacts = Array.from({ length: count }, () => randomBytes(ARTIFACT_BYTES));
    const signed: Signed[] = new Array<Signed>(count);
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let i = next++; i < count; i = next++) {
          const artifact = artifacts[i] ?? Buffer.alloc(0);
          const digest = createHash('sha256').update(artifact).digest('hex');
          const response = await server.inject({
            method: 'POST',
            url: '/v1/sign',
            headers: { authorization: `Bearer ${tokens[i] ?? ''}` },
            payload: signArtifactBody(`artifact-${String(i)}.bin`, digest),
          });
          if (response.statusCode !== 201) {
            throw new Error(`POST /v1/sign: ${String(response.statusCode)} ${response.body}`);
          }
          signed[i] = { artifact, bundle: response.json<{ bundle: unknown }>().bundle };
        }
      }),
    );
    const root = await server.inject({ method: 'GET', url: '/v1/trust/trusted-root.json' });
    if (root.statusCode !== 200) throw new Error(`trusted root: ${String(root.statusCode)}`);
    return { signed, rootJson: root.json<Record<string, unknown>>() };
  } finally {
    await demo.close();
  }
}
