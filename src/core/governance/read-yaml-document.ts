/**
 * A strict YAML reader for configuration files an operator writes (governance.yaml, policy test
 * cases). It walks a TypeBox/JSON Schema alongside the YAML syntax tree so every problem is
 * reported at once with its file, line and path, e.g.
 * `governance.yaml:14: entitlements[2].selector.repositry: unknown field (did you mean repositoryId?)`.
 *
 * YAML is read with the failsafe schema (every scalar is a string) and converted here according
 * to the schema: `yes`/`on` are never booleans, `0123` is never the number 83 or 123, a 20-digit
 * repository id is never rounded. Duplicate keys and unknown tags are errors.
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, Scalar } from 'yaml';
import type { Document, Node as YamlNode } from 'yaml';
import type { TSchema } from '@sinclair/typebox';
import type { FieldError } from '../errors.ts';
import { suggestName } from './suggest-name.ts';

/** Files larger than this are refused before parsing. */
export const MAX_CONFIG_FILE_BYTES = 4 * 1024 * 1024;
/** Alias dereferences allowed per document: stops "billion laughs" expansion. */
export const MAX_ALIAS_RESOLUTIONS = 100;

/** The subset of JSON Schema the reader understands (what the TypeBox builders used here emit). */
interface SchemaNode {
  readonly type?: string;
  readonly const?: unknown;
  readonly anyOf?: readonly SchemaNode[];
  readonly properties?: Readonly<Record<string, SchemaNode>>;
  readonly required?: readonly string[];
  readonly items?: SchemaNode;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly uniqueItems?: boolean;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly pattern?: string;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly default?: unknown;
  readonly description?: string;
}

/** The outcome of `readYamlDocument`. */
export interface YamlDocumentResult {
  /** The converted value with defaults filled in; trustworthy only when `errors` is empty. */
  readonly value: unknown;
  readonly errors: readonly FieldError[];
  /** 1-based line of the node at `path` (e.g. `products[0].channels[1].name`), if it exists. */
  lineOf(path: string): number | undefined;
  /** `file:line` for `path`, falling back to the nearest enclosing node that has a line. */
  sourceOf(path: string): string;
  /** 1-based line where the content of the scalar at `path` starts (block scalars: next line). */
  contentLineOf(path: string): number | undefined;
}

/** Options for `readYamlDocument`. */
export interface ReadYamlOptions {
  /** Name used in error sources, e.g. `governance.yaml`. */
  readonly fileName: string;
}

/**
 * Reads `text` as one YAML document shaped like `schema`. Never throws for bad input: problems
 * are returned in `errors`, each with `source` = `file:line`.
 *
 * @param text - file contents (operator-written, untrusted: size-capped, alias-capped).
 */
export function readYamlDocument(
  text: string,
  schema: TSchema,
  options: ReadYamlOptions,
): YamlDocumentResult {
  const lines = new Map<string, number>();
  const contentLines = new Map<string, number>();
  const errors: FieldError[] = [];
  const sourceOf = (path: string): string => {
    let probe = path;
    for (;;) {
      const line = lines.get(probe);
      if (line !== undefined) return `${options.fileName}:${String(line)}`;
      if (probe === '') return options.fileName;
      probe = parentPath(probe);
    }
  };
  const result = (value: unknown): YamlDocumentResult => ({
    value,
    errors,
    lineOf: (path) => lines.get(path),
    sourceOf,
    contentLineOf: (path) => contentLines.get(path),
  });

  if (Buffer.byteLength(text, 'utf8') > MAX_CONFIG_FILE_BYTES) {
    errors.push({
      path: '',
      message: `file is larger than ${String(MAX_CONFIG_FILE_BYTES)} bytes`,
      source: options.fileName,
    });
    return result(undefined);
  }
  const tooDeep = nestingBeyond(text, MAX_NESTING_DEPTH);
  if (tooDeep !== undefined) {
    errors.push({
      path: '',
      message: `nested deeper than ${String(MAX_NESTING_DEPTH)} levels`,
      source: `${options.fileName}:${String(tooDeep)}`,
    });
    return result(undefined);
  }
  const counter = new LineCounter();
  let doc: ReturnType<typeof parseDocument>;
  try {
    doc = parseDocument(text, {
      schema: 'failsafe',
      lineCounter: counter,
      prettyErrors: false,
      uniqueKeys: true,
    });
  } catch (error) {
    // The parser recurses per level; a nesting the scan above cannot see may still exhaust it.
    if (!(error instanceof RangeError)) throw error;
    errors.push({ path: '', message: 'nested too deeply to read', source: options.fileName });
    return result(undefined);
  }
  const lineAt = (offset: number): number => counter.linePos(offset).line;
  for (const problem of [...doc.errors, ...doc.warnings]) {
    errors.push({
      path: '',
      message: `YAML: ${problem.message.split('\n')[0] ?? problem.code}`,
      source: `${options.fileName}:${String(lineAt(problem.pos[0]))}`,
    });
  }
  if (doc.errors.length > 0) return result(undefined);

  const walker = new Walker(doc, lineAt, lines, contentLines, errors, options.fileName);
  const value = walker.walk(doc.contents, schema, '');
  return result(value);
}

/** Formats field errors one per line: `file:line: path: message`. */
export function formatFieldErrors(errors: readonly FieldError[]): string {
  return errors
    .map((e) =>
      [e.source, e.path === '' ? undefined : e.path, e.message].filter(Boolean).join(': '),
    )
    .join('\n');
}

function childPath(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function parentPath(path: string): string {
  const match = /^(.*?)(\.[^.[\]]+|\[\d+\])$/.exec(path);
  return match?.[1] ?? '';
}

class Walker {
  readonly #doc: Document;
  readonly #lineAt: (offset: number) => number;
  readonly #lines: Map<string, number>;
  readonly #contentLines: Map<string, number>;
  readonly #errors: FieldError[];
  readonly #fileName: string;
  #aliases = 0;

  constructor(
    doc: Document,
    lineAt: (offset: number) => number,
    lines: Map<string, number>,
    contentLines: Map<string, number>,
    errors: FieldError[],
    fileName: string,
  ) {
    this.#doc = doc;
    this.#lineAt = lineAt;
    this.#lines = lines;
    this.#contentLines = contentLines;
    this.#errors = errors;
    this.#fileName = fileName;
  }

  #report(path: string, line: number | undefined, message: string): void {
    this.#errors.push({
      path,
      message,
      source: line === undefined ? this.#fileName : `${this.#fileName}:${String(line)}`,
    });
  }

  /**
   * @param keyLine - the line of the key this value belongs to: a block mapping or list under
   *   `selector:` is reported at the `selector:` line, not at its first child.
   */
  walk(input: unknown, schema: SchemaNode, path: string, keyLine?: number): unknown {
    if (isAlias(input)) {
      this.#aliases += 1;
      if (this.#aliases > MAX_ALIAS_RESOLUTIONS) {
        const line = keyLine ?? (input.range ? this.#lineAt(input.range[0]) : undefined);
        if (this.#aliases === MAX_ALIAS_RESOLUTIONS + 1) {
          this.#report(path, line, `more than ${String(MAX_ALIAS_RESOLUTIONS)} alias (*name) uses`);
        }
        return undefined;
      }
    }
    const node = isAlias(input) ? (input.resolve(this.#doc) as unknown) : input;
    const range = isYamlNode(node) ? node.range : undefined;
    const line =
      keyLine ?? (range === undefined || range === null ? undefined : this.#lineAt(range[0]));
    if (line !== undefined) this.#lines.set(path, line);

    if (node === null || node === undefined || (isScalar(node) && isEmptyPlain(node))) {
      this.#report(path, line, `has no value: expected ${describeExpected(schema)}`);
      return undefined;
    }
    if (schema.anyOf !== undefined && schema.anyOf.every((option) => option.const === undefined)) {
      // A union of shapes (e.g. a list or a mapping): the YAML node kind picks the branch.
      const branch = schema.anyOf.find(
        (option) =>
          (option.type === 'object' && isMap(node)) ||
          (option.type === 'array' && isSeq(node)) ||
          (option.type !== 'object' && option.type !== 'array' && isScalar(node)),
      );
      if (branch !== undefined) return this.walk(node, branch, path, line);
      this.#report(path, line, `must be ${describeExpected(schema)}, not ${describeNode(node)}`);
      return undefined;
    }
    if (schema.anyOf !== undefined || schema.const !== undefined) {
      return this.#walkChoice(node, schema, path, line);
    }
    switch (schema.type ?? '') {
      case 'object':
        return this.#walkObject(node, schema, path, line);
      case 'array':
        return this.#walkArray(node, schema, path, line);
      case 'string':
        return this.#walkString(node, schema, path, line);
      case 'integer':
        return this.#walkInteger(node, schema, path, line);
      case 'boolean':
        return this.#walkBoolean(node, path, line);
      default:
        this.#report(path, line, 'cannot be checked (schema type not supported by the reader)');
        return undefined;
    }
  }

  #walkChoice(node: unknown, schema: SchemaNode, path: string, line: number | undefined): unknown {
    const allowed = (schema.anyOf ?? [schema])
      .map((option) => option.const)
      .filter((value): value is string => typeof value === 'string');
    const text = this.#scalarString(node, path, line, describeExpected(schema));
    if (text === undefined) return undefined;
    if (allowed.includes(text)) return text;
    const suggestion = suggestName(text, allowed);
    const options = allowed.map((a) => JSON.stringify(a)).join(', ');
    this.#report(
      path,
      line,
      allowed.length === 1
        ? `must be ${options}, not ${JSON.stringify(text)}`
        : `${JSON.stringify(text)} is not one of ${options}${suggestion === undefined ? '' : ` (did you mean ${suggestion}?)`}`,
    );
    return undefined;
  }

  #walkObject(node: unknown, schema: SchemaNode, path: string, line: number | undefined): unknown {
    if (!isMap(node)) {
      this.#report(path, line, `must be a mapping of fields, not ${describeNode(node)}`);
      return undefined;
    }
    const properties = schema.properties ?? {};
    const known = Object.keys(properties);
    const out: Record<string, unknown> = {};
    for (const pair of node.items) {
      const keyNode = pair.key;
      const keyLine = isYamlNode(keyNode) && keyNode.range ? this.#lineAt(keyNode.range[0]) : line;
      if (!isScalar(keyNode) || typeof keyNode.value !== 'string') {
        this.#report(path, keyLine, 'field names must be plain strings');
        continue;
      }
      const key = keyNode.value;
      const keyPath = childPath(path, key);
      const propertySchema = Object.hasOwn(properties, key) ? properties[key] : undefined;
      if (propertySchema === undefined) {
        const suggestion = suggestName(key, known);
        this.#report(
          keyPath,
          keyLine,
          `unknown field${suggestion === undefined ? '' : ` (did you mean ${suggestion}?)`}`,
        );
        continue;
      }
      const value = this.walk(pair.value, propertySchema, keyPath, keyLine);
      if (isScalar(pair.value) && pair.value.range) {
        const valueLine = this.#lineAt(pair.value.range[0]);
        const isBlock =
          pair.value.type === Scalar.BLOCK_LITERAL || pair.value.type === Scalar.BLOCK_FOLDED;
        this.#contentLines.set(keyPath, isBlock ? valueLine + 1 : valueLine);
      }
      if (value !== undefined) out[key] = value;
    }
    for (const key of schema.required ?? []) {
      if (!node.items.some((pair) => isScalar(pair.key) && pair.key.value === key)) {
        this.#report(childPath(path, key), line, 'missing required field');
      }
    }
    for (const [key, propertySchema] of Object.entries(properties)) {
      if (
        !(key in out) &&
        propertySchema.default !== undefined &&
        !(schema.required ?? []).includes(key)
      ) {
        const present = node.items.some((pair) => isScalar(pair.key) && pair.key.value === key);
        if (!present) out[key] = structuredClone(propertySchema.default);
      }
    }
    return out;
  }

  #walkArray(node: unknown, schema: SchemaNode, path: string, line: number | undefined): unknown {
    if (!isSeq(node)) {
      this.#report(path, line, `must be a list, not ${describeNode(node)}`);
      return undefined;
    }
    const count = node.items.length;
    if (schema.minItems !== undefined && count < schema.minItems) {
      this.#report(path, line, `must have at least ${String(schema.minItems)} item(s)`);
    }
    if (schema.maxItems !== undefined && count > schema.maxItems) {
      this.#report(path, line, `must have at most ${String(schema.maxItems)} items`);
      return undefined;
    }
    const items = schema.items ?? {};
    const out: unknown[] = [];
    const seen = new Set<string>();
    node.items.forEach((item, index) => {
      const itemPath = `${path}[${String(index)}]`;
      const value = this.walk(item, items, itemPath);
      if (schema.uniqueItems === true && typeof value === 'string') {
        if (seen.has(value))
          this.#report(
            itemPath,
            this.#lines.get(itemPath),
            `${JSON.stringify(value)} is listed twice`,
          );
        seen.add(value);
      }
      out.push(value);
    });
    return out;
  }

  #walkString(node: unknown, schema: SchemaNode, path: string, line: number | undefined): unknown {
    const text = this.#scalarString(node, path, line, 'a string');
    if (text === undefined) return undefined;
    if (schema.minLength !== undefined && text.length < schema.minLength) {
      this.#report(
        path,
        line,
        schema.minLength === 1
          ? 'must not be empty'
          : `must be at least ${String(schema.minLength)} characters`,
      );
      return undefined;
    }
    if (schema.maxLength !== undefined && text.length > schema.maxLength) {
      this.#report(path, line, `must be at most ${String(schema.maxLength)} characters`);
      return undefined;
    }
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(text)) {
      this.#report(
        path,
        line,
        `must be ${schema.description ?? `a string matching ${schema.pattern}`}`,
      );
      return undefined;
    }
    return text;
  }

  #walkInteger(node: unknown, schema: SchemaNode, path: string, line: number | undefined): unknown {
    if (
      !isScalar(node) ||
      node.type !== Scalar.PLAIN ||
      typeof node.value !== 'string' ||
      !/^-?(0|[1-9]\d{0,14})$/.test(node.value)
    ) {
      this.#report(path, line, `must be a whole number, not ${describeNode(node)}`);
      return undefined;
    }
    const value = Number(node.value);
    if (
      (schema.minimum !== undefined && value < schema.minimum) ||
      (schema.maximum !== undefined && value > schema.maximum)
    ) {
      this.#report(
        path,
        line,
        `must be from ${String(schema.minimum ?? '-∞')} to ${String(schema.maximum ?? '∞')}`,
      );
      return undefined;
    }
    return value;
  }

  #walkBoolean(node: unknown, path: string, line: number | undefined): unknown {
    if (
      isScalar(node) &&
      node.type === Scalar.PLAIN &&
      (node.value === 'true' || node.value === 'false')
    ) {
      return node.value === 'true';
    }
    this.#report(path, line, `must be true or false, not ${describeNode(node)}`);
    return undefined;
  }

  #scalarString(
    node: unknown,
    path: string,
    line: number | undefined,
    expected: string,
  ): string | undefined {
    if (!isScalar(node) || typeof node.value !== 'string') {
      this.#report(path, line, `must be ${expected}, not ${describeNode(node)}`);
      return undefined;
    }
    return node.value;
  }
}

function isYamlNode(value: unknown): value is YamlNode {
  return isScalar(value) || isMap(value) || isSeq(value) || isAlias(value);
}

function isEmptyPlain(node: Scalar): boolean {
  return node.type === Scalar.PLAIN && node.value === '';
}

function describeNode(node: unknown): string {
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) return JSON.stringify(String(node.value));
  return 'nothing';
}

function describeExpected(schema: SchemaNode): string {
  if (schema.anyOf !== undefined) {
    return schema.anyOf.every((option) => option.const !== undefined)
      ? `one of ${schema.anyOf.map((option) => JSON.stringify(option.const)).join(', ')}`
      : schema.anyOf.map(describeExpected).join(' or ');
  }
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  switch (schema.type ?? '') {
    case 'object':
      return 'a mapping of fields';
    case 'array':
      return 'a list';
    case 'integer':
      return 'a whole number';
    case 'boolean':
      return 'true or false';
    default:
      return schema.description ?? 'a string';
  }
}

/** Deepest nesting a governance file needs is about ten; the parser recurses once per level. */
export const MAX_NESTING_DEPTH = 64;

/**
 * The line where `text` first nests deeper than `max` levels, or undefined: flow collections
 * (`[`, `{` outside quotes and comments) plus compact block sequences (`- - -`) and indentation,
 * an upper bound of the parser's recursion, found in one pass before it runs (threat model I8:
 * `[[[[…` of a few MiB otherwise costs seconds and gigabytes before the parser gives up).
 */
function nestingBeyond(text: string, max: number): number | undefined {
  let flow = 0;
  let line = 1;
  let lineStart = true;
  let indent = 0;
  let dashes = 0;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') {
      line++;
      lineStart = true;
      indent = 0;
      dashes = 0;
      continue;
    }
    if (quote !== undefined) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (lineStart) {
      if (c === ' ') {
        indent++;
        continue;
      }
      if (c === '-' && (text[i + 1] === ' ' || text[i + 1] === '\n')) {
        dashes++;
        continue;
      }
      lineStart = false;
    }
    if (c === '#' && (i === 0 || /\s/.test(text[i - 1] ?? ''))) {
      const end = text.indexOf('\n', i);
      i = (end < 0 ? text.length : end) - 1;
      continue;
    }
    if ((c === '"' || c === "'") && opensScalar(text, i)) quote = c;
    else if (c === '[' || c === '{') flow++;
    else if ((c === ']' || c === '}') && flow > 0) flow--;
    if (flow + dashes + indent / 2 > max) return line;
  }
  return undefined;
}

/** True when the quote at `at` starts a quoted scalar (after `: `, `- `, `[`, `{`, `,`, `? ` or a
 * line's indentation), not an apostrophe inside a plain one (`reason: don't`). */
function opensScalar(text: string, at: number): boolean {
  let i = at - 1;
  while (i >= 0 && text[i] === ' ') i--;
  const before = i < 0 ? '\n' : (text[i] ?? '\n');
  return '\n:-[{,?'.includes(before);
}
