/**
 * Private SoftHSM2 tokens for tests (STYLE.md "Tests": real components, no mocks; threat model
 * FT-5). Each `createSoftHsm()` gets its own configuration file and token directory in a temp
 * directory, so suites never touch the system token store or each other's tokens.
 *
 * SoftHSM2 reads `SOFTHSM2_CONF` when the module is initialised (`C_Initialize`), once per process
 * in practice: a suite that loads the module in-process calls `useInThisProcess()` before the first
 * backend opens, and keeps one `SoftHsm` (with as many tokens as it needs) per test file. Child
 * processes get `env` instead.
 *
 * PINs are random per token and never printed.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import pkcs11js from 'pkcs11js';
import type { PKCS11 } from 'pkcs11js';

/** Where Debian's softhsm2 package installs the PKCS#11 module. */
const MODULE_CANDIDATES = [
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/local/lib/softhsm/libsofthsm2.so',
];

/** Why SoftHSM2 suites cannot run, for `requireComponent` / `requireComponentForSuite`. */
export const SOFTHSM_MISSING_REASON =
  'softhsm2-util or libsofthsm2.so was not found; install the softhsm2 package (apt-get install softhsm2)';

/** The SoftHSM2 module path when `softhsm2-util` and the module are installed, else undefined. */
export function findSoftHsmModule(): string | undefined {
  const util = spawnSync('softhsm2-util', ['--version'], { encoding: 'utf8' });
  if (util.error !== undefined || util.status !== 0) return undefined;
  return MODULE_CANDIDATES.find((path) => existsSync(path));
}

/** One initialised token. */
export interface SoftHsmToken {
  readonly label: string;
  /** The slot SoftHSM2 assigned to the token (it changes if the token is re-initialised). */
  readonly slot: number;
  /** The user PIN. A secret: never print it. */
  readonly pin: string;
  /** The security officer PIN. A secret: never print it. */
  readonly soPin: string;
  /** The token's own directory (`<tokendir>/<uuid>`): move it away to "remove" the token. */
  readonly dir: string;
}

export interface SoftHsm {
  /** Path of the PKCS#11 module. */
  readonly module: string;
  /** The private configuration file. */
  readonly confPath: string;
  /** `directories.tokendir` of that configuration. */
  readonly tokenDir: string;
  /** Environment for child processes: `{ SOFTHSM2_CONF }`. */
  readonly env: Readonly<Record<string, string>>;
  /** Initialises a fresh token in the first free slot. */
  initToken(label?: string): SoftHsmToken;
  /**
   * "Pulls" `token` out: moves its directory out of the token directory (SoftHSM2 would still find
   * it under another name inside). Returns the function that puts it back.
   */
  removeToken(token: SoftHsmToken): () => void;
  /**
   * Points this process's SoftHSM2 at the private configuration. Call before the module is first
   * initialised in this process (SoftHSM2 reads the variable in `C_Initialize`).
   */
  useInThisProcess(): void;
  /** Removes every file. Idempotent. */
  cleanup(): void;
}

/**
 * Creates a private SoftHSM2 configuration in a temp directory. Throws when SoftHSM2 is not
 * installed; check `findSoftHsmModule()` first.
 */
export function createSoftHsm(): SoftHsm {
  const module = findSoftHsmModule();
  if (module === undefined) throw new Error(SOFTHSM_MISSING_REASON);
  const root = mkdtempSync(join(tmpdir(), 'countersign-softhsm-'));
  const tokenDir = join(root, 'tokens');
  const confPath = join(root, 'softhsm2.conf');
  mkdirSync(tokenDir, { mode: 0o700 });
  writeFileSync(
    confPath,
    [
      `directories.tokendir = ${tokenDir}`,
      'objectstore.backend = file',
      'log.level = ERROR',
      'slots.removable = false',
      'slots.mechanisms = ALL',
      'library.reset_on_fork = false',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const env = { SOFTHSM2_CONF: confPath };
  let cleaned = false;
  const cleanup = (): void => {
    if (cleaned) return;
    cleaned = true;
    rmSync(root, { recursive: true, force: true });
  };
  process.once('exit', cleanup);

  return {
    module,
    confPath,
    tokenDir,
    env,
    initToken(label = `t-${randomBytes(4).toString('hex')}`) {
      const pin = randomBytes(8).toString('hex');
      const soPin = randomBytes(8).toString('hex');
      const before = new Set(readdirSync(tokenDir));
      const result = spawnSync(
        'softhsm2-util',
        ['--init-token', '--free', '--label', label, '--so-pin', soPin, '--pin', pin],
        { encoding: 'utf8', env: { ...process.env, ...env } },
      );
      // The output never contains the PINs, so it is safe to show when init fails.
      if (result.status !== 0) {
        throw new Error(`softhsm2-util --init-token failed: ${result.stderr}${result.stdout}`);
      }
      const slot = /reassigned to slot (\d+)/.exec(result.stdout)?.[1];
      const created = readdirSync(tokenDir).filter((name) => !before.has(name));
      if (slot === undefined || created.length !== 1 || created[0] === undefined) {
        throw new Error(`unexpected softhsm2-util output: ${result.stdout}`);
      }
      return { label, slot: Number(slot), pin, soPin, dir: join(tokenDir, created[0]) };
    },
    removeToken(token) {
      const away = join(root, `removed-${basename(token.dir)}`);
      renameSync(token.dir, away);
      return () => renameSync(away, token.dir);
    },
    useInThisProcess() {
      process.env['SOFTHSM2_CONF'] = confPath;
    },
    cleanup,
  };
}

/**
 * Loads `module` into this process with pkcs11js, for checks and fault injection from the test
 * side. PKCS#11 state is per process, so this instance sees (and can disturb) the sessions and
 * login of the code under test: `C_CloseAllSessions` on its slot is an HSM session reset,
 * `C_Finalize` a module reset.
 */
export function loadPkcs11ForTest(module: string): PKCS11 {
  const lib = new pkcs11js.PKCS11();
  lib.load(module);
  initialisePkcs11(lib);
  return lib;
}

/** `C_Initialize`, accepting a module the code under test already initialised. */
export function initialisePkcs11(lib: PKCS11): void {
  try {
    lib.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (error) {
    if ((error as { code?: unknown }).code !== pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED)
      throw error;
  }
}

/** The slot holding the token labelled `label`; throws when it is not present. */
export function findSlotByLabel(lib: PKCS11, label: string): Buffer {
  for (const slot of lib.C_GetSlotList(true)) {
    if (lib.C_GetTokenInfo(slot).label.trimEnd() === label) return slot;
  }
  throw new Error(`token ${label} is not present`);
}
