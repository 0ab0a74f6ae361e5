import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppError } from '../../core/errors.ts';
import { EMPTY_GOVERNANCE } from '../../core/governance/governance.ts';
import type { Governance } from '../../core/governance/governance.ts';
import { createCedarPolicyEngine } from './cedar-policy-engine.ts';
import { readPolicySet, SHIPPED_DEFAULTS_NAME } from './read-policy-set.ts';

function withPolicies(policies: Partial<Governance['policies']>): Governance {
  return { ...EMPTY_GOVERNANCE, policies: { ...EMPTY_GOVERNANCE.policies, ...policies } };
}

async function inTempDir(work: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'countersign-policies-'));
  try {
    await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('readPolicySet', () => {
  it('combines the shipped defaults, extra files and inline policies', async () => {
    await inTempDir(async (dir) => {
      await mkdir(join(dir, 'policies'));
      await writeFile(
        join(dir, 'policies/freeze.cedar'),
        '@id("freeze")\n@reason("frozen")\nforbid (principal, action, resource);\n',
      );
      const set = await readPolicySet(
        withPolicies({
          files: ['policies/freeze.cedar'],
          inline: [
            {
              name: 'extra',
              cedar: '@id("extra")\npermit (principal, action, resource);\n',
              line: 40,
            },
          ],
        }),
        { baseDir: dir, fileName: 'governance.yaml' },
      );
      assert.deepEqual(
        set.policies.map((p) => p.name),
        [SHIPPED_DEFAULTS_NAME, 'policies/freeze.cedar', 'inline:extra'],
      );
      const engine = createCedarPolicyEngine(set);
      assert.equal(
        engine.policies.find((p) => p.id === 'freeze')?.source,
        'policies/freeze.cedar:1',
      );
      assert.equal(engine.policies.find((p) => p.id === 'extra')?.source, 'governance.yaml:40');
    });
  });

  it('leaves the defaults out when asked to', async () => {
    const set = await readPolicySet(withPolicies({ defaults: false }), {
      baseDir: '.',
      fileName: 'g.yaml',
    });
    assert.deepEqual(set.policies, []);
  });

  it('reports every unreadable policy file at once', async () => {
    await inTempDir(async (dir) => {
      await assert.rejects(
        readPolicySet(withPolicies({ files: ['a.cedar', 'b/c.cedar'] }), {
          baseDir: dir,
          fileName: 'g.yaml',
        }),
        (error: unknown) => {
          assert.ok(error instanceof AppError);
          assert.equal(error.code, 'CONFIG_INVALID');
          assert.deepEqual(
            error.errors.map((e) => `${e.path}: ${e.message}`),
            [
              'policies.files[0]: cannot read a.cedar (ENOENT)',
              'policies.files[1]: cannot read b/c.cedar (ENOENT)',
            ],
          );
          return true;
        },
      );
    });
  });
});
