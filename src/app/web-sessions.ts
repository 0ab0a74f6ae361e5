/**
 * Passkey web sessions: after a person signs in with a passkey, the browser holds an opaque
 * random cookie (`countersign_session`); the server stores only its SHA-256, so a database dump
 * yields no usable session (threat-model K). A session lasts 12 hours, ends at sign-out, and
 * stops working at once when its passkey is revoked or its user leaves governance.
 *
 * Sessions only say *who* someone is. What they may do (approve, see requests) always comes
 * from the governance in force (issue #6 contract, "Humans").
 */
import { createHash } from 'node:crypto';
import { AppError } from '../core/errors.ts';
import type { Clock, Random, Storage, StorageSession } from '../core/ports.ts';

/** The cookie that carries a web session (issue #6 contract). */
export const SESSION_COOKIE = 'countersign_session';

/** How long a session lasts after sign-in, in seconds (a working day; no sliding renewal). */
export const WEB_SESSION_TTL_SECONDS = 12 * 60 * 60;

/** Random bytes of a session secret: 256 bits, 43 base64url characters. */
const SECRET_BYTES = 32;
const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;

const UNAUTHENTICATED_MESSAGE = 'sign in with your passkey';
const UNAUTHENTICATED_HINT = 'open the approval page (/ui/) and sign in again';

/** Resolves session cookies to people. The interface other parts of the service depend on. */
export interface WebSessions {
  /**
   * The user of a session cookie value (attacker-controlled). Throws UNAUTHENTICATED, with one
   * message for every failure, when it is malformed, unknown, expired, its passkey was revoked or
   * its user is no longer in the governance in force; STORAGE_UNAVAILABLE.
   */
  authenticate(cookieValue: string): Promise<{ readonly userId: string }>;
}

/** A session just started: `cookieValue` goes into the cookie and is not stored anywhere. */
export interface StartedWebSession {
  readonly cookieValue: string;
  readonly userId: string;
  readonly expiresAt: Date;
}

/** The session use cases the passkey sign-in and sign-out need besides `authenticate`. */
export interface WebSessionManager extends WebSessions {
  /**
   * Starts a session for `userId`, signed in with `credentialId`, inside `session` (the sign-in
   * transaction, so the session exists only if the sign-in committed).
   */
  start(session: StorageSession, userId: string, credentialId: string): Promise<StartedWebSession>;
  /** The session of a cookie value, with its expiry; throws as `authenticate`. */
  describe(
    cookieValue: string,
  ): Promise<{ readonly userId: string; readonly expiresAt: Date; readonly credentialId: string }>;
  /** Ends the session of `cookieValue`; nothing happens for an unknown or malformed value. */
  end(cookieValue: string): Promise<void>;
}

export interface WebSessionsDeps {
  readonly storage: Storage;
  readonly clock: Clock;
  readonly random: Random;
  /** True when `userId` is a user of the governance in force. */
  isKnownUser(userId: string): Promise<boolean>;
}

/** Web sessions over storage. */
export function createWebSessions(deps: WebSessionsDeps): WebSessionManager {
  const { storage, clock, random } = deps;
  const unauthenticated = () =>
    new AppError('UNAUTHENTICATED', UNAUTHENTICATED_MESSAGE, { hint: UNAUTHENTICATED_HINT });

  const describe = async (cookieValue: string) => {
    if (!SECRET_PATTERN.test(cookieValue)) throw unauthenticated();
    const secret = Buffer.from(cookieValue, 'base64url');
    // One spelling per secret, like API tokens.
    if (secret.length !== SECRET_BYTES || secret.toString('base64url') !== cookieValue) {
      throw unauthenticated();
    }
    // The lookup is by the hash of a 256-bit secret: its timing reveals nothing usable.
    const record = await storage.webSessions.findBySecretHash(sha256(secret));
    if (record === undefined || record.expiresAt.getTime() <= clock.now().getTime()) {
      throw unauthenticated();
    }
    const credential = await storage.approverCredentials.findById(record.credentialId);
    if (
      credential === undefined ||
      credential.revokedAt !== null ||
      credential.userId !== record.userId ||
      !(await deps.isKnownUser(record.userId))
    ) {
      throw unauthenticated();
    }
    return {
      userId: record.userId,
      expiresAt: record.expiresAt,
      credentialId: record.credentialId,
    };
  };

  return {
    async authenticate(cookieValue) {
      const { userId } = await describe(cookieValue);
      return { userId };
    },

    describe,

    async start(session, userId, credentialId) {
      const now = clock.now();
      const secret = random.bytes(SECRET_BYTES);
      const expiresAt = new Date(now.getTime() + WEB_SESSION_TTL_SECONDS * 1000);
      await session.webSessions.insert({
        secretHash: sha256(secret),
        userId,
        credentialId,
        createdAt: now,
        expiresAt,
      });
      return { cookieValue: Buffer.from(secret).toString('base64url'), userId, expiresAt };
    },

    async end(cookieValue) {
      if (!SECRET_PATTERN.test(cookieValue)) return;
      await storage.webSessions.delete(sha256(Buffer.from(cookieValue, 'base64url')));
    },
  };
}

function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}
