/**
 * Operator API tokens: the credentials of people and scripts that administer Countersign
 * (`Authorization: Bearer cs_<id>_<secret>`). CI workloads never use them: they sign with OIDC.
 *
 * The token string is shown once, at creation. Only the SHA-256 of the secret is stored, so a
 * database dump does not yield usable tokens; verification compares digests in constant time.
 */
import { encodeBase32 } from '../core/base32.ts';
import { createHash, timingSafeEqual } from 'node:crypto';
import { AppError } from '../core/errors.ts';
import type {
  ApiTokenRecord,
  Clock,
  GovernanceActor,
  Random,
  Role,
  Storage,
  StorageSession,
} from '../core/ports.ts';
import type { EventLog } from './append-event.ts';

/** Log event kinds of the token lifecycle (issue "Who may sign what" item 6). */
export const TOKEN_CREATED_EVENT = 'token.created';
export const TOKEN_REVOKED_EVENT = 'token.revoked';

/** Every token string starts with this, so secret scanners and people can recognise it. */
export const API_TOKEN_PREFIX = 'cs_';

/** The roles a token may hold (DESIGN.md §5). */
export const ROLES: readonly Role[] = ['admin', 'approver', 'security', 'auditor'];

/** Random bytes in a token id: 80 bits, 16 base32 characters, no `_`. */
const ID_BYTES = 10;
/** Random bytes in a token secret: 256 bits, 43 base64url characters. */
const SECRET_BYTES = 32;
const NAME_MAX_LENGTH = 100;

/** `cs_` + 16 lower-case base32 characters + `_` + 43 base64url characters, nothing else. */
const TOKEN_PATTERN = /^cs_([a-z2-7]{16})_([A-Za-z0-9_-]{43})$/;
const TOKEN_ID_PATTERN = /^[a-z2-7]{16}$/;

/**
 * One message for every way a presented token can be wrong (absent, malformed, unknown, wrong
 * secret, revoked, expired), so a caller cannot probe which tokens exist or were revoked.
 */
const UNAUTHENTICATED_MESSAGE = 'a valid API token is required';
const UNAUTHENTICATED_HINT =
  'send "Authorization: Bearer cs_…"; an admin creates tokens with `countersign token create`';

/** Whether a token can be used now. */
export type ApiTokenStatus = 'active' | 'expired' | 'revoked';

/** A token as shown to administrators: never its secret or the secret's digest. */
export interface ApiTokenView {
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  /** The governance user it acts for, or null. */
  readonly userId: string | null;
  readonly createdAt: Date;
  readonly expiresAt: Date | null;
  readonly revokedAt: Date | null;
  readonly status: ApiTokenStatus;
}

/** A freshly created token: `token` is the full secret string, shown this once. */
export interface CreatedApiToken {
  readonly token: string;
  readonly view: ApiTokenView;
}

/** Who a request acts as after `authenticateToken`. */
export interface ApiTokenPrincipal {
  readonly kind: 'api-token';
  /** The token id: safe to log and to record as the actor of an event. */
  readonly tokenId: string;
  readonly name: string;
  readonly role: Role;
  /** The governance user the token acts for, or null for a script's token. */
  readonly userId: string | null;
}

export interface CreateApiTokenInput {
  /** What the token is for, e.g. `terraform` or `alice laptop`. */
  readonly name: string;
  readonly role: Role;
  /**
   * The governance user (`users[].id`) the token acts for: needed to approve, reject or ask for
   * exceptions. Whether that person may do so is decided by the governance in force, not the role.
   */
  readonly userId?: string | null;
  /** When the token stops working; never when null or absent. Must be in the future. */
  readonly expiresAt?: Date | null;
  /** Who creates it, recorded in the `token.created` event. */
  readonly createdBy?: GovernanceActor;
}

/** The operator API token use cases. */
export interface ApiTokens {
  /**
   * Creates a token and returns its string, which is not stored and cannot be shown again.
   * Throws INVALID_INPUT for an empty or overlong name, an unknown role or an expiry not in the
   * future; STORAGE_UNAVAILABLE.
   */
  createToken(input: CreateApiTokenInput): Promise<CreatedApiToken>;
  /**
   * Creates the first admin token of a new installation (`countersign init`). Throws CONFLICT
   * when any token exists already: from then on, admins create tokens through the API.
   */
  createInitialAdminToken(): Promise<CreatedApiToken>;
  /** Every token, oldest first. Throws STORAGE_UNAVAILABLE. */
  listTokens(): Promise<ApiTokenView[]>;
  /**
   * Revokes a token from now on; revoking a revoked token changes nothing and succeeds.
   * Throws NOT_FOUND for an unknown id; STORAGE_UNAVAILABLE.
   */
  revokeToken(id: string, revokedBy?: GovernanceActor): Promise<ApiTokenView>;
  /**
   * Verifies a presented token string (attacker-controlled) and returns who it acts as.
   * Throws UNAUTHENTICATED, with one message for every failure; STORAGE_UNAVAILABLE.
   */
  authenticateToken(presented: string | undefined): Promise<ApiTokenPrincipal>;
}

export interface ApiTokensDeps {
  readonly storage: Storage;
  readonly clock: Clock;
  readonly random: Random;
  /**
   * Where `token.created` and `token.revoked` events go, each committed atomically with the
   * change it records. The service always passes the transparency log; without it (unit tests
   * of this module alone) changes are written without evidence.
   */
  readonly events?: EventLog;
}

/**
 * The API token use cases over storage, a clock and a CSPRNG. Creations and revocations are
 * governance evidence: with `events`, each is appended to the log in the transaction that makes it.
 */
export function createApiTokens(deps: ApiTokensDeps): ApiTokens {
  const { storage, clock, random, events } = deps;
  // Compared against when the id is unknown, so that path costs what a known id costs.
  const decoyHash = sha256(random.bytes(SECRET_BYTES));

  const toView = (record: ApiTokenRecord): ApiTokenView => ({
    id: record.id,
    name: record.name,
    role: record.role,
    userId: record.userId,
    createdAt: record.createdAt,
    expiresAt: record.expiresAt,
    revokedAt: record.revokedAt,
    status: statusOf(record, clock.now()),
  });

  /** Stores `record`, with its `token.created` event when there is an event log. */
  const persistToken = async (
    record: ApiTokenRecord,
    createdBy: GovernanceActor | undefined,
    guard: (session: StorageSession) => Promise<void>,
  ): Promise<void> => {
    if (events === undefined) {
      await storage.transaction(async (session) => {
        await guard(session);
        await session.apiTokens.insert(record);
      });
      return;
    }
    await events.appendEvent(
      TOKEN_CREATED_EVENT,
      {
        tokenId: record.id,
        name: record.name,
        role: record.role,
        userId: record.userId,
        createdAt: record.createdAt.toISOString(),
        expiresAt: record.expiresAt?.toISOString() ?? null,
        ...(createdBy === undefined ? {} : { createdBy: actorBody(createdBy) }),
      },
      {
        effect: async (session) => {
          await guard(session);
          await session.apiTokens.insert(record);
        },
      },
    );
  };

  const insertToken = async (
    input: CreateApiTokenInput,
    guard: (session: StorageSession) => Promise<void>,
  ): Promise<CreatedApiToken> => {
    const now = clock.now();
    const name = input.name.trim();
    if (name.length === 0 || name.length > NAME_MAX_LENGTH || /\p{Cc}/u.test(name)) {
      throw new AppError(
        'INVALID_INPUT',
        `token name must be 1 to ${String(NAME_MAX_LENGTH)} printable characters`,
        {
          errors: [{ path: '/name', message: 'must be 1 to 100 printable characters' }],
        },
      );
    }
    if (!ROLES.includes(input.role)) {
      throw new AppError('INVALID_INPUT', `unknown role; expected one of ${ROLES.join(', ')}`, {
        errors: [{ path: '/role', message: `must be one of ${ROLES.join(', ')}` }],
      });
    }
    const expiresAt = input.expiresAt ?? null;
    if (expiresAt !== null && !(expiresAt.getTime() > now.getTime())) {
      throw new AppError('INVALID_INPUT', 'token expiry must be in the future', {
        errors: [{ path: '/expiresAt', message: 'must be in the future' }],
      });
    }
    const id = encodeBase32(random.bytes(ID_BYTES));
    const secret = random.bytes(SECRET_BYTES);
    const record: ApiTokenRecord = {
      id,
      name,
      role: input.role,
      userId: input.userId ?? null,
      secretHash: sha256(secret),
      createdAt: now,
      expiresAt,
      revokedAt: null,
    };
    await persistToken(record, input.createdBy, guard);
    return {
      token: `${API_TOKEN_PREFIX}${id}_${Buffer.from(secret).toString('base64url')}`,
      view: toView(record),
    };
  };

  return {
    createToken: (input) => insertToken(input, () => Promise.resolve()),

    createInitialAdminToken: () =>
      insertToken(
        { name: 'initial-admin', role: 'admin', createdBy: INIT_ACTOR },
        // Checked in the transaction that inserts, so two concurrent inits make one token.
        async (session) => {
          if ((await session.apiTokens.list()).length > 0) {
            throw new AppError('CONFLICT', 'this installation already has API tokens', {
              hint: 'an admin creates further tokens with `countersign token create`',
            });
          }
        },
      ),

    async listTokens() {
      return (await storage.apiTokens.list()).map(toView);
    },

    async revokeToken(id, revokedBy) {
      const notFound = () => new AppError('NOT_FOUND', 'no API token has this id');
      if (!TOKEN_ID_PATTERN.test(id)) throw notFound();
      const before = await storage.apiTokens.findById(id);
      if (before === undefined) throw notFound();
      if (before.revokedAt === null) {
        const at = clock.now();
        if (events === undefined) {
          await storage.apiTokens.revoke(id, at);
        } else {
          try {
            await events.appendEvent(
              TOKEN_REVOKED_EVENT,
              {
                tokenId: before.id,
                name: before.name,
                role: before.role,
                revokedAt: at.toISOString(),
                ...(revokedBy === undefined ? {} : { revokedBy: actorBody(revokedBy) }),
              },
              {
                effect: async (session) => {
                  // A concurrent revocation won: it has its own event, this one is not logged.
                  if (!(await session.apiTokens.revoke(id, at))) throw new AlreadyRevoked();
                },
              },
            );
          } catch (error) {
            if (!(error instanceof AlreadyRevoked)) throw error;
          }
        }
      }
      const record = await storage.apiTokens.findById(id);
      if (record === undefined) throw notFound();
      return toView(record);
    },

    async authenticateToken(presented) {
      const unauthenticated = () =>
        new AppError('UNAUTHENTICATED', UNAUTHENTICATED_MESSAGE, { hint: UNAUTHENTICATED_HINT });
      const match = presented === undefined ? null : TOKEN_PATTERN.exec(presented);
      const id = match?.[1];
      const secretText = match?.[2];
      if (id === undefined || secretText === undefined) throw unauthenticated();
      const secret = Buffer.from(secretText, 'base64url');
      // Only the canonical encoding is accepted: one token, one spelling.
      if (secret.length !== SECRET_BYTES || secret.toString('base64url') !== secretText) {
        throw unauthenticated();
      }
      const record = await storage.apiTokens.findById(id);
      const expected = record?.secretHash ?? decoyHash;
      const presentedHash = sha256(secret);
      const matches =
        expected.length === presentedHash.length && timingSafeEqual(expected, presentedHash);
      if (record === undefined || !matches || statusOf(record, clock.now()) !== 'active') {
        throw unauthenticated();
      }
      return {
        kind: 'api-token',
        tokenId: record.id,
        name: record.name,
        role: record.role,
        userId: record.userId,
      };
    },
  };
}

/** Who creates the first admin token: `countersign init`, on the server's own machine. */
const INIT_ACTOR: GovernanceActor = { kind: 'system', id: 'init', name: 'countersign init' };

/** Thrown by a revocation effect that found the token revoked already; never leaves this module. */
class AlreadyRevoked extends Error {}

function actorBody(actor: GovernanceActor): Record<string, string> {
  return { kind: actor.kind, id: actor.id, name: actor.name };
}

/**
 * Checks that `principal` holds one of `allowed`. Throws FORBIDDEN naming the roles that would do:
 * the caller is authenticated, so saying what is missing leaks nothing.
 */
export function requireRole(principal: ApiTokenPrincipal, allowed: readonly Role[]): void {
  if (!allowed.includes(principal.role)) {
    throw new AppError(
      'FORBIDDEN',
      `this needs the role ${allowed.join(' or ')}; the token has ${principal.role}`,
      {
        hint: 'ask an admin for a token with the right role',
      },
    );
  }
}

/** The status of a token at `now`; revocation wins over expiry, and takes effect at once. */
export function statusOf(record: ApiTokenRecord, now: Date): ApiTokenStatus {
  if (record.revokedAt !== null) return 'revoked';
  if (record.expiresAt !== null && record.expiresAt.getTime() <= now.getTime()) return 'expired';
  return 'active';
}

function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}
