import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

const ROOT = join(import.meta.dirname, '..');

async function listTsFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listTsFiles(path)));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

function importsOf(source: string): string[] {
  const specifiers: string[] = [];
  const pattern =
    /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (const match of source.matchAll(pattern)) specifiers.push((match[1] ?? match[2]) as string);
  return specifiers;
}

/** Layers and what each may import (DESIGN.md §3). */
const LAYER_RULES: Record<string, readonly string[]> = {
  core: ['core'],
  app: ['core', 'app'],
  adapters: ['core', 'adapters'],
  http: ['core', 'app', 'http'],
  cli: ['core', 'app', 'cli', 'config', 'http', 'compose'],
  config: ['core', 'config'],
};

function layerOf(file: string): string | undefined {
  const rel = relative(join(ROOT, 'src'), file);
  if (rel.startsWith('..')) return undefined;
  const first = rel.split(/[\\/]/)[0] ?? '';
  return first.endsWith('.ts') ? first.replace(/\.ts$/, '') : first;
}

const CORE_BANNED_MODULE =
  /^(node:)?(fs|fs\/promises|net|http|https|http2|child_process|dns|os|sqlite|dgram|cluster|worker_threads)$|^(pg|kysely|fastify|jose|pino|prom-client|@fastify\/.*)$/;
const CORE_BANNED_GLOBALS = /\bprocess\.env\b|\bDate\.now\(\)|\bMath\.random\(\)|\bnew Date\(\)/;

describe('architecture', () => {
  it('keeps src/core pure: no I/O, environment, clock, randomness or frameworks', async () => {
    const breaches: string[] = [];
    for (const file of await listTsFiles(join(ROOT, 'src', 'core'))) {
      const source = await readFile(file, 'utf8');
      for (const spec of importsOf(source)) {
        if (CORE_BANNED_MODULE.test(spec)) breaches.push(`${relative(ROOT, file)} imports ${spec}`);
      }
      const code = source.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, '');
      const global = CORE_BANNED_GLOBALS.exec(code);
      if (global) breaches.push(`${relative(ROOT, file)} uses ${global[0]}`);
    }
    assert.deepEqual(breaches, []);
  });

  it('lets each layer import only the layers below it', async () => {
    const breaches: string[] = [];
    for (const file of await listTsFiles(join(ROOT, 'src'))) {
      const layer = layerOf(file);
      const allowed = layer === undefined ? undefined : LAYER_RULES[layer];
      if (allowed === undefined) continue; // compose.ts is the one composition root
      for (const spec of importsOf(await readFile(file, 'utf8'))) {
        if (!spec.startsWith('.')) continue;
        const target = layerOf(join(file, '..', spec));
        if (target !== undefined && !allowed.includes(target)) {
          breaches.push(`${relative(ROOT, file)} (${layer}) imports ${spec} (${target})`);
        }
      }
    }
    assert.deepEqual(breaches, []);
  });

  it('reads process.env only in src/config', async () => {
    const breaches: string[] = [];
    for (const file of await listTsFiles(join(ROOT, 'src'))) {
      if (layerOf(file) === 'config') continue;
      const code = (await readFile(file, 'utf8')).replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, '');
      if (/\bprocess\.env\b/.test(code)) breaches.push(relative(ROOT, file));
    }
    assert.deepEqual(breaches, []);
  });
});
