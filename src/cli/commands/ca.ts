/**
 * `countersign ca init|issue-channel|list`: the operator's CA ceremonies.
 *
 * The root key can be kept offline: `ca init --offline --root-key-out DIR` creates it in a
 * separate passphrase-encrypted keystore at DIR (removable media), never in the service's key
 * backend; `ca issue-channel --root-key DIR` brings it back only to issue a channel CA. After the
 * ceremony the operator removes DIR from the machine. Channel CA and TSA keys are created in the
 * service's own key backend, one per product and channel, never shared.
 *
 * The command needs the service's key backend, the PKI store and a way to open an offline
 * keystore: the composition root provides them through `CaEnvironmentFactory`.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { initializePki, issueChannelCa, listPkiCertificates, type PkiDeps } from '../../app/pki.ts';
import { AppError } from '../../core/errors.ts';
import type { KeyBackend, PkiCertificateRecord } from '../../core/ports.ts';
import { encodePem } from '../../core/x509/pem.ts';
import { parseCertificate } from '../../core/x509/parse-certificate.ts';
import type { CliCommand, CommandContext } from '../command.ts';
import { optionalString, requireString } from '../flags.ts';

/** What the `ca` commands run on. */
export interface CaEnvironment {
  /** The service's key backend, PKI store, clock and randomness. */
  readonly pki: PkiDeps;
  /**
   * Opens the keystore of an offline root at `dir`, unlocked by `passphrase`; creates it when
   * `create` is true. Throws KEY_UNAVAILABLE on a wrong passphrase or unsafe permissions.
   */
  openOfflineRootKeys(dir: string, passphrase: string, create: boolean): Promise<KeyBackend>;
  /** Releases storage and key backends. */
  close(): Promise<void>;
}

/** Builds the environment of one `ca` run, from configuration (the composition root's job). */
export type CaEnvironmentFactory = (context: CommandContext) => Promise<CaEnvironment>;

/** A passphrase file is a line of text, not a document. */
const MAX_PASSPHRASE_FILE_BYTES = 4096;

const OFFLINE_ROOT_OPTIONS = {
  'passphrase-file': {
    type: 'string',
    valueName: 'FILE',
    help: 'file holding the passphrase of the offline root keystore (first line)',
  },
} as const;

interface CertificateView {
  readonly role: string;
  readonly product: string | null;
  readonly channel: string | null;
  readonly keyId: string;
  readonly subject: string;
  readonly serialNumber: string;
  readonly sha256Fingerprint: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly certificatePem: string;
}

/**
 * The `ca` command over the environment `openEnvironment` builds. Register the result in
 * `command-registry.ts`.
 */
export function createCaCommand(openEnvironment: CaEnvironmentFactory): CliCommand {
  async function withEnvironment<T>(
    context: CommandContext,
    work: (environment: CaEnvironment) => Promise<T>,
  ): Promise<T> {
    const environment = await openEnvironment(context);
    try {
      return await work(environment);
    } finally {
      await environment.close();
    }
  }

  const initCommand: CliCommand = {
    name: 'init',
    summary: 'create the root CA and the timestamp authority',
    usage:
      'ca init --organization ORG [--common-name NAME] [--offline --root-key-out DIR --passphrase-file FILE]',
    details: [
      'Creates the root CA key and self-signed certificate, and a TSA key with a certificate from',
      'the root. With --offline the root key goes into a new keystore at DIR, encrypted under the',
      'passphrase, and never into the service: issue the channel CAs you need, then move DIR to',
      'offline storage. Without --offline the root key stays in the service key backend.',
      'Fails with exit code 4 when the PKI already exists.',
    ].join('\n'),
    readsConfig: true,
    options: {
      organization: {
        type: 'string',
        valueName: 'ORG',
        help: 'the O= of every CA certificate (exactly one; gh matches trust roots on it)',
      },
      'common-name': {
        type: 'string',
        valueName: 'NAME',
        help: 'the root certificate CN (default "<ORG> Signing Root")',
      },
      'root-validity-days': { type: 'string', valueName: 'DAYS', help: 'default 3650' },
      'tsa-validity-days': { type: 'string', valueName: 'DAYS', help: 'default 730' },
      offline: { type: 'boolean', help: 'keep the root key out of the service (recommended)' },
      'root-key-out': {
        type: 'string',
        valueName: 'DIR',
        help: 'with --offline: the new keystore directory for the root key (must not exist)',
      },
      ...OFFLINE_ROOT_OPTIONS,
    },
    async run(context) {
      const organization = requireString(context, 'organization');
      const commonName = optionalString(context, 'common-name');
      const rootValidityDays = optionalDays(context, 'root-validity-days');
      const tsaValidityDays = optionalDays(context, 'tsa-validity-days');
      const offline = context.flags['offline'] === true;
      const rootKeyOut = optionalString(context, 'root-key-out');
      if (!offline && rootKeyOut !== undefined) {
        throw usage('--root-key-out needs --offline');
      }
      let offlineDir: string | undefined;
      let passphrase: string | undefined;
      if (offline) {
        if (rootKeyOut === undefined) throw usage('--offline needs --root-key-out DIR');
        offlineDir = resolve(context.io.cwd, rootKeyOut);
        if (existsSync(offlineDir)) {
          throw new AppError('CONFLICT', `${offlineDir} already exists`, {
            hint: 'the offline root keystore is always a new directory',
          });
        }
        passphrase = readPassphrase(context);
      }
      const created = await withEnvironment(context, async (environment) => {
        const rootKeys =
          offlineDir === undefined || passphrase === undefined
            ? environment.pki.serviceKeys
            : await environment.openOfflineRootKeys(offlineDir, passphrase, true);
        try {
          return await initializePki(environment.pki, {
            rootKeys,
            organization,
            ...(commonName === undefined ? {} : { rootCommonName: commonName }),
            ...(rootValidityDays === undefined ? {} : { rootValidityDays }),
            ...(tsaValidityDays === undefined ? {} : { tsaValidityDays }),
          });
        } finally {
          if (rootKeys !== environment.pki.serviceKeys) await rootKeys.close();
        }
      });
      const views = [viewOf(created.root), viewOf(created.tsa)];
      if (context.json) {
        context.printJson({ offline, rootKeystore: offlineDir ?? null, certificates: views });
        return 0;
      }
      for (const view of views) printView(context, view);
      context.note('');
      if (offlineDir === undefined) {
        context.note(
          'The root key is ONLINE, in the service key backend. For production prefer `ca init --offline`.',
        );
      } else {
        context.note(`The root key is in the keystore ${offlineDir}, and nowhere else.`);
        context.note(
          'Issue channel CAs now (`ca issue-channel --root-key DIR`), then move that directory to offline storage.',
        );
      }
      context.note(
        'Publish the root certificate above in your trusted root; keep its fingerprint.',
      );
      context.print(views[0]?.certificatePem.trimEnd() ?? '');
      return 0;
    },
  };

  const issueChannelCommand: CliCommand = {
    name: 'issue-channel',
    summary: 'issue the CA of one product and release channel',
    usage:
      'ca issue-channel --product PRODUCT --channel CHANNEL [--root-key DIR --passphrase-file FILE]',
    details: [
      'Creates a fresh channel-ca key in the service key backend and certifies it with the root.',
      'Each product and channel has exactly one CA; a second one fails with exit code 4.',
      'With an offline root, pass its keystore with --root-key and its passphrase file.',
    ].join('\n'),
    readsConfig: true,
    options: {
      product: { type: 'string', valueName: 'PRODUCT', help: 'product name, e.g. payments-api' },
      channel: { type: 'string', valueName: 'CHANNEL', help: 'release channel, e.g. prod' },
      'validity-days': {
        type: 'string',
        valueName: 'DAYS',
        help: 'default 730, never past the root',
      },
      'root-key': {
        type: 'string',
        valueName: 'DIR',
        help: 'the offline root keystore created by `ca init --offline`',
      },
      ...OFFLINE_ROOT_OPTIONS,
    },
    async run(context) {
      const product = requireString(context, 'product');
      const channel = requireString(context, 'channel');
      const validityDays = optionalDays(context, 'validity-days');
      const rootKey = optionalString(context, 'root-key');
      const rootDir = rootKey === undefined ? undefined : resolve(context.io.cwd, rootKey);
      const passphrase = rootDir === undefined ? undefined : readPassphrase(context);
      const record = await withEnvironment(context, async (environment) => {
        const rootKeys =
          rootDir === undefined || passphrase === undefined
            ? environment.pki.serviceKeys
            : await environment.openOfflineRootKeys(rootDir, passphrase, false);
        try {
          return await issueChannelCa(environment.pki, {
            rootKeys,
            product,
            channel,
            ...(validityDays === undefined ? {} : { validityDays }),
          });
        } finally {
          if (rootKeys !== environment.pki.serviceKeys) await rootKeys.close();
        }
      });
      const view = viewOf(record);
      if (context.json) {
        context.printJson(view);
        return 0;
      }
      printView(context, view);
      return 0;
    },
  };

  const listCommand: CliCommand = {
    name: 'list',
    summary: 'list the root, TSA and channel CA certificates',
    usage: 'ca list [--pem]',
    readsConfig: true,
    options: { pem: { type: 'boolean', help: 'also print each certificate as PEM' } },
    async run(context) {
      const records = await withEnvironment(context, (environment) =>
        listPkiCertificates(environment.pki),
      );
      const views = records.map(viewOf);
      if (context.json) {
        context.printJson({ certificates: views });
        return 0;
      }
      if (views.length === 0) {
        context.note('No PKI yet: create it with `countersign ca init`.');
        return 0;
      }
      for (const view of views) {
        printView(context, view);
        if (context.flags['pem'] === true) context.print(view.certificatePem.trimEnd());
      }
      return 0;
    },
  };

  return {
    name: 'ca',
    summary: 'manage the root CA, channel CAs and the timestamp authority',
    usage: 'ca init|issue-channel|list',
    subcommands: [initCommand, issueChannelCommand, listCommand],
  };
}

function viewOf(record: PkiCertificateRecord): CertificateView {
  const parsed = parseCertificate(record.certificate);
  return {
    role: record.role,
    product: record.product,
    channel: record.channel,
    keyId: record.keyId,
    subject: parsed.subject.map((attribute) => attribute.value).join(', '),
    serialNumber: record.serialNumber,
    sha256Fingerprint: createHash('sha256')
      .update(record.certificate)
      .digest('hex')
      .toUpperCase()
      .replace(/(..)(?!$)/g, '$1:'),
    notBefore: record.notBefore.toISOString(),
    notAfter: record.notAfter.toISOString(),
    certificatePem: encodePem('CERTIFICATE', record.certificate),
  };
}

function printView(context: CommandContext, view: CertificateView): void {
  const scope = view.product === null ? '' : ` ${view.product}/${view.channel ?? ''}`;
  context.print(`${view.role}${scope}: ${view.subject}`);
  context.print(`  key:         ${view.keyId}`);
  context.print(`  serial:      ${view.serialNumber}`);
  context.print(`  valid:       ${view.notBefore} to ${view.notAfter}`);
  context.print(`  fingerprint: SHA256 ${view.sha256Fingerprint}`);
}

/** The first line of the passphrase file: files keep secrets out of the process list. */
function readPassphrase(context: CommandContext): string {
  const file = requireString(context, 'passphrase-file');
  const path = resolve(context.io.cwd, file);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (cause) {
    throw new AppError('INVALID_INPUT', `cannot read the passphrase file ${path}`, { cause });
  }
  if (bytes.length > MAX_PASSPHRASE_FILE_BYTES) {
    throw new AppError('INVALID_INPUT', `the passphrase file ${path} is too large`);
  }
  const passphrase = bytes.toString('utf8').split(/\r?\n/)[0] ?? '';
  if (passphrase === '') {
    throw new AppError('INVALID_INPUT', `the passphrase file ${path} is empty`);
  }
  return passphrase;
}

function usage(message: string): AppError {
  return new AppError('INVALID_INPUT', message, { hint: 'run `countersign ca --help`' });
}

function optionalDays(context: CommandContext, flag: string): number | undefined {
  const value = optionalString(context, flag);
  if (value === undefined) return undefined;
  if (!/^[1-9][0-9]{0,4}$/.test(value)) {
    throw new AppError('INVALID_INPUT', `--${flag} must be a whole number of days`, {
      errors: [{ path: `--${flag}`, message: 'not a number of days' }],
    });
  }
  return Number(value);
}
