import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { generateGovernanceJsonSchema } from '../../src/core/governance/governance-schema.ts';
import { parseGovernanceFile } from '../../src/core/governance/governance-file.ts';

const ROOT = join(import.meta.dirname, '../..');
const SCHEMA_FILE = join(ROOT, 'schemas/governance.schema.json');
const EXAMPLE_FILE = join(ROOT, 'examples/governance.yaml');

// Regenerate after changing src/core/governance/governance-schema.ts:
//   COUNTERSIGN_UPDATE_SCHEMAS=1 npx node --test test/policy/governance-schema.test.ts
//   npx prettier --write schemas/governance.schema.json
if (process.env['COUNTERSIGN_UPDATE_SCHEMAS'] === '1') {
  await writeFile(SCHEMA_FILE, `${JSON.stringify(generateGovernanceJsonSchema(), null, 2)}\n`);
}

const committed = JSON.parse(await readFile(SCHEMA_FILE, 'utf8')) as Record<string, unknown>;
const validate = new Ajv2020({ strict: true, allErrors: true }).compile(committed);
const example = await readFile(EXAMPLE_FILE, 'utf8');

/** The example with one edit; fails if the text to replace is not there (a test that cannot fail is a defect). */
function edited(from: string, to: string): string {
  assert.ok(example.includes(from), `example lacks ${from}`);
  return example.replace(from, to);
}

describe('docs/governance.md', () => {
  it('shows the complete example exactly as shipped in examples/governance.yaml', async () => {
    const doc = await readFile(join(ROOT, 'docs/governance.md'), 'utf8');
    const section = doc.slice(doc.indexOf('## Complete example'));
    const block = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
    assert.ok(block !== undefined, 'no yaml block under "## Complete example"');
    assert.deepEqual(parse(block), parse(example));
  });
});

describe('schemas/governance.schema.json', () => {
  it('is exactly what the TypeBox schemas generate', () => {
    assert.deepEqual(
      committed,
      generateGovernanceJsonSchema(),
      'regenerate it: COUNTERSIGN_UPDATE_SCHEMAS=1 npx node --test test/policy/governance-schema.test.ts',
    );
  });

  it('accepts the shipped example, which the strict reader accepts too', () => {
    assert.equal(validate(parse(example)), true, JSON.stringify(validate.errors));
    assert.doesNotThrow(() => parseGovernanceFile(example));
  });

  it('rejects a misspelt field, like the strict reader does', () => {
    const misspelt = edited("repositoryId: '45678901'", "repositry: '45678901'");
    assert.equal(validate(parse(misspelt)), false);
    assert.ok(validate.errors?.some((e) => e.keyword === 'additionalProperties'));
    assert.throws(() => parseGovernanceFile(misspelt), { code: 'CONFIG_INVALID' });
  });

  it('rejects a wrong enum value and an unquoted numeric id', () => {
    assert.equal(validate(parse(edited('signingMode: managed', 'signingMode: manual'))), false);
    // An editor validating YAML sees 45678901 as a number: the schema insists on a string so the
    // id is written exactly (the strict reader keeps the digits as written either way).
    assert.equal(
      validate(parse(edited("repositoryId: '45678901'", 'repositoryId: 45678901'))),
      false,
    );
  });
});
