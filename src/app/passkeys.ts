/**
 * Passkeys (issue #6): people register WebAuthn passkeys through one-time enrolment links an
 * admin creates, sign in to the approval page with them, and approve signing requests with them.
 *
 * Threat model B: every challenge is 256 random bits, stored server-side, single-use, valid for
 * five minutes and deleted when used (B1); origins and rpIdHash are checked exactly against the
 * configured public URL (B2); user verification is required for registration, sign-in and
 * approvals (B3); a signature counter that goes backwards refuses the sign-in (B4); a credential
 * belongs to the user the server bound it to at registration, whatever user handle the browser
 * sends (B5); a passkey can only be added through an admin-issued, single-use, short-lived link,
 * and every registration is in the transparency log (B6).
 *
 * Registration (CBOR attestation parsing) uses `@simplewebauthn/server`; assertions are checked
 * by `verifyWebAuthnAssertion` from core, the same code that verifies approvals offline.
 */
import { encodeBase32 } from '../core/base32.ts';
import { createHash, timingSafeEqual } from 'node:crypto';
import { decodeCredentialPublicKey } from '@simplewebauthn/server/helpers';
import { verifyRegistrationResponse } from '@simplewebauthn/server';
import { coseKeyToSpki, type CoseKeyMap } from '../core/approvals/cose-key.ts';
import {
  COSE_ALGORITHMS,
  parseWebAuthnClientData,
  verifyWebAuthnAssertion,
} from '../core/approvals/verify-approval.ts';
import { AppError, isAppError } from '../core/errors.ts';
import type {
  ApproverCredentialRecord,
  Clock,
  EnrolmentRecord,
  GovernanceActor,
  Random,
  Storage,
} from '../core/ports.ts';
import type { GovernanceState } from './active-governance.ts';
import type { EventLog } from './append-event.ts';
import type { StartedWebSession, WebSessionManager } from './web-sessions.ts';

/** Log event kinds of the passkey lifecycle (issue #6 contract). */
export const ENROLMENT_CREATED_EVENT = 'enrolment.created';
export const PASSKEY_REGISTERED_EVENT = 'passkey.registered';

/** How long a WebAuthn challenge may be answered. */
export const WEBAUTHN_CHALLENGE_TTL_SECONDS = 5 * 60;
/** Enrolment links last a day unless the admin says otherwise, at most a week. */
export const DEFAULT_ENROLMENT_TTL_SECONDS = 24 * 60 * 60;
export const MIN_ENROLMENT_TTL_SECONDS = 5 * 60;
export const MAX_ENROLMENT_TTL_SECONDS = 7 * 24 * 60 * 60;
/** Where the enrolment page is served, relative to the public URL. */
export const ENROLMENT_PAGE_PATH = '/ui/enrol.html';

/** The algorithms passkeys may use, most preferred first (what `verifyApprovalSignature` checks). */
const SUPPORTED_ALGORITHMS = [COSE_ALGORITHMS.ES256, COSE_ALGORITHMS.EdDSA, COSE_ALGORITHMS.RS256];
/** 256 random bits per challenge (B1 asks for at least 128). */
const CHALLENGE_BYTES = 32;
/** The browser is given this long to run the ceremony, in milliseconds. */
const CEREMONY_TIMEOUT_MS = 2 * 60 * 1000;
const ENROLMENT_ID_BYTES = 10;
const ENROLMENT_SECRET_BYTES = 32;
/** `<16 base32 id>.<43 base64url secret>`, nothing else. */
const ENROLMENT_TOKEN_PATTERN = /^([a-z2-7]{16})\.([A-Za-z0-9_-]{43})$/;
const LABEL_MAX_LENGTH = 100;
const RP_NAME = 'Countersign';

const ENROLMENT_UNAUTHENTICATED =
  'this enrolment link is not valid: it is unknown, used or expired';
const ENROLMENT_HINT = 'ask an admin for a new link (`countersign passkey enrol-link --user ID`)';

/** A freshly created enrolment link; `token` is its secret and is shown this once. */
export interface CreatedEnrolment {
  readonly id: string;
  readonly userId: string;
  /** `<id>.<secret>`: the one-time secret. */
  readonly token: string;
  /** The page to open: the token rides in the fragment, so it never reaches a server log. */
  readonly url: string;
  readonly expiresAt: Date;
}

/** A passkey as its owner sees it. */
export interface PasskeyView {
  /** base64url credential id. */
  readonly id: string;
  readonly label: string;
  readonly algorithm: number;
  readonly createdAt: Date;
}

/** Options for `navigator.credentials.create` (WebAuthn L2 `PublicKeyCredentialCreationOptionsJSON`). */
export interface RegistrationOptions {
  readonly challenge: string;
  readonly rp: { readonly id: string; readonly name: string };
  readonly user: { readonly id: string; readonly name: string; readonly displayName: string };
  readonly pubKeyCredParams: { readonly type: 'public-key'; readonly alg: number }[];
  readonly timeout: number;
  readonly attestation: 'none';
  readonly excludeCredentials: { readonly type: 'public-key'; readonly id: string }[];
  readonly authenticatorSelection: {
    readonly residentKey: 'preferred';
    readonly requireResidentKey: false;
    readonly userVerification: 'required';
  };
}

/** Options for `navigator.credentials.get` (`PublicKeyCredentialRequestOptionsJSON`). */
export interface SignInOptions {
  readonly challenge: string;
  readonly rpId: string;
  readonly timeout: number;
  readonly userVerification: 'required';
  readonly allowCredentials: { readonly type: 'public-key'; readonly id: string }[];
}

/** What the browser returns from `navigator.credentials.create`, base64url fields (untrusted). */
export interface RegistrationCredential {
  readonly id: string;
  readonly clientDataJSON: string;
  readonly attestationObject: string;
  readonly transports?: readonly string[];
}

/** What the browser returns from `navigator.credentials.get`, base64url fields (untrusted). */
export interface AssertionCredential {
  readonly id: string;
  readonly clientDataJSON: string;
  readonly authenticatorData: string;
  readonly signature: string;
  readonly userHandle?: string;
}

/** The passkey use cases. */
export interface Passkeys {
  /**
   * Creates a one-time enrolment link for governance user `userId` (admins only: the route
   * checks). Throws INVALID_INPUT for an unknown user or a lifetime out of range.
   */
  createEnrolment(input: {
    readonly userId: string;
    readonly createdBy: GovernanceActor;
    readonly expiresInSeconds?: number;
  }): Promise<CreatedEnrolment>;
  /** Creation options for the user of `enrolmentToken`. Throws UNAUTHENTICATED for a bad link. */
  registrationOptions(
    enrolmentToken: string,
  ): Promise<{ readonly userId: string; readonly options: RegistrationOptions }>;
  /**
   * Verifies the attestation and registers the passkey for the enrolment's user, using up the
   * link, with a `passkey.registered` event in the same transaction. Throws UNAUTHENTICATED for a
   * bad link or challenge, VERIFICATION_FAILED when the attestation does not verify, CONFLICT
   * when the credential is registered already.
   */
  verifyRegistration(
    enrolmentToken: string,
    credential: RegistrationCredential,
    label?: string,
  ): Promise<PasskeyView & { readonly userId: string }>;
  /** Request options for a sign-in (any registered passkey may answer). */
  signInOptions(): Promise<SignInOptions>;
  /**
   * Verifies a sign-in assertion and starts a web session. Throws UNAUTHENTICATED for an unknown
   * or used challenge, an unknown or revoked passkey, a user no longer in governance, a failed
   * signature, or a signature counter that went backwards (B4).
   */
  signIn(credential: AssertionCredential): Promise<StartedWebSession>;
  /** The session of a cookie value and its user's passkeys. Throws UNAUTHENTICATED. */
  describeSession(cookieValue: string): Promise<{
    readonly userId: string;
    readonly expiresAt: Date;
    readonly passkeys: readonly PasskeyView[];
  }>;
  /** Ends the session of a cookie value (nothing happens for an unknown one). */
  signOut(cookieValue: string): Promise<void>;
}

export interface PasskeysDeps {
  readonly storage: Storage;
  readonly clock: Clock;
  readonly random: Random;
  /** Where `enrolment.created` and `passkey.registered` go, atomically with their change. */
  readonly events: EventLog;
  /** The governance in force: who the users are. */
  readonly governance: Pick<GovernanceState, 'current'>;
  readonly sessions: WebSessionManager;
  /** `server.publicUrl`: its host is the WebAuthn relying party id, its origin the only origin. */
  readonly publicUrl: string;
}

/** The passkey use cases over storage, the log and the governance in force. */
export function createPasskeys(deps: PasskeysDeps): Passkeys {
  const { storage, clock, random, events, sessions } = deps;
  const publicUrl = new URL(deps.publicUrl);
  const rpId = publicUrl.hostname;
  const origin = publicUrl.origin;
  const base = deps.publicUrl.replace(/\/+$/, '');
  // Compared against when the enrolment id is unknown, so that path costs what a known id costs.
  const decoyHash = sha256(random.bytes(ENROLMENT_SECRET_BYTES));

  const findUser = async (userId: string) =>
    (await deps.governance.current()).governance.users.find((user) => user.id === userId);

  const newChallenge = (): string =>
    Buffer.from(random.bytes(CHALLENGE_BYTES)).toString('base64url');

  /** The enrolment of a presented token (attacker-controlled), usable now. */
  const authenticateEnrolment = async (presented: string): Promise<EnrolmentRecord> => {
    const unauthenticated = () =>
      new AppError('UNAUTHENTICATED', ENROLMENT_UNAUTHENTICATED, { hint: ENROLMENT_HINT });
    const match = ENROLMENT_TOKEN_PATTERN.exec(presented);
    const id = match?.[1];
    const secretText = match?.[2];
    if (id === undefined || secretText === undefined) throw unauthenticated();
    const secret = Buffer.from(secretText, 'base64url');
    if (secret.length !== ENROLMENT_SECRET_BYTES || secret.toString('base64url') !== secretText) {
      throw unauthenticated();
    }
    const record = await storage.enrolments.findById(id);
    const expected = record?.secretHash ?? decoyHash;
    const presentedHash = sha256(secret);
    const matches =
      expected.length === presentedHash.length && timingSafeEqual(expected, presentedHash);
    if (
      record === undefined ||
      !matches ||
      record.usedAt !== null ||
      record.expiresAt.getTime() <= clock.now().getTime() ||
      (await findUser(record.userId)) === undefined
    ) {
      throw unauthenticated();
    }
    return record;
  };

  const passkeysOf = async (userId: string): Promise<ApproverCredentialRecord[]> =>
    (await storage.approverCredentials.listByUser(userId)).filter(
      (credential) => credential.kind === 'webauthn' && credential.revokedAt === null,
    );

  return {
    async createEnrolment({ userId, createdBy, expiresInSeconds }) {
      const lifetime = expiresInSeconds ?? DEFAULT_ENROLMENT_TTL_SECONDS;
      if (
        !Number.isInteger(lifetime) ||
        lifetime < MIN_ENROLMENT_TTL_SECONDS ||
        lifetime > MAX_ENROLMENT_TTL_SECONDS
      ) {
        throw new AppError(
          'INVALID_INPUT',
          `an enrolment link lasts ${String(MIN_ENROLMENT_TTL_SECONDS)} to ${String(MAX_ENROLMENT_TTL_SECONDS)} seconds`,
          { errors: [{ path: '/expiresInSeconds', message: 'out of range' }] },
        );
      }
      if ((await findUser(userId)) === undefined) {
        throw new AppError('INVALID_INPUT', `${userId} is not a user of the governance in force`, {
          errors: [{ path: '/userId', message: 'unknown user' }],
          hint: 'add the person to `users` in the governance file and apply it first',
        });
      }
      const now = clock.now();
      const id = encodeBase32(random.bytes(ENROLMENT_ID_BYTES));
      const secret = random.bytes(ENROLMENT_SECRET_BYTES);
      const record: EnrolmentRecord = {
        id,
        secretHash: sha256(secret),
        userId,
        createdAt: now,
        expiresAt: new Date(now.getTime() + lifetime * 1000),
        usedAt: null,
        createdBy,
      };
      await events.appendEvent(
        ENROLMENT_CREATED_EVENT,
        {
          enrolmentId: id,
          userId,
          createdAt: now.toISOString(),
          expiresAt: record.expiresAt.toISOString(),
          createdBy: { kind: createdBy.kind, id: createdBy.id, name: createdBy.name },
        },
        { effect: (session) => session.enrolments.insert(record) },
      );
      const token = `${id}.${Buffer.from(secret).toString('base64url')}`;
      return {
        id,
        userId,
        token,
        url: `${base}${ENROLMENT_PAGE_PATH}#token=${token}`,
        expiresAt: record.expiresAt,
      };
    },

    async registrationOptions(enrolmentToken) {
      const enrolment = await authenticateEnrolment(enrolmentToken);
      const user = await findUser(enrolment.userId);
      const now = clock.now();
      const challenge = newChallenge();
      await storage.webauthnChallenges.insert({
        challenge,
        purpose: 'registration',
        userId: enrolment.userId,
        enrolmentId: enrolment.id,
        createdAt: now,
        expiresAt: new Date(now.getTime() + WEBAUTHN_CHALLENGE_TTL_SECONDS * 1000),
      });
      const existing = await passkeysOf(enrolment.userId);
      return {
        userId: enrolment.userId,
        options: {
          challenge,
          rp: { id: rpId, name: RP_NAME },
          user: {
            id: userHandle(enrolment.userId),
            name: enrolment.userId,
            displayName: user?.email ?? enrolment.userId,
          },
          pubKeyCredParams: SUPPORTED_ALGORITHMS.map((alg) => ({ type: 'public-key', alg })),
          timeout: CEREMONY_TIMEOUT_MS,
          attestation: 'none',
          excludeCredentials: existing.map((c) => ({ type: 'public-key', id: c.id })),
          authenticatorSelection: {
            residentKey: 'preferred',
            requireResidentKey: false,
            userVerification: 'required',
          },
        },
      };
    },

    async verifyRegistration(enrolmentToken, credential, label) {
      const enrolment = await authenticateEnrolment(enrolmentToken);
      const name = (label ?? 'passkey').trim();
      if (name.length === 0 || name.length > LABEL_MAX_LENGTH || /\p{Cc}/u.test(name)) {
        throw new AppError('INVALID_INPUT', 'a passkey label is 1 to 100 printable characters', {
          errors: [{ path: '/label', message: 'must be 1 to 100 printable characters' }],
        });
      }
      const clientData = parseWebAuthnClientData(decodeBase64url(credential.clientDataJSON));
      const now = clock.now();
      const issued = await storage.webauthnChallenges.consume(
        clientData.challenge,
        'registration',
        now,
      );
      // The challenge must have been issued for this very link (B1, B6).
      if (issued?.enrolmentId !== enrolment.id || issued.userId !== enrolment.userId) {
        throw new AppError(
          'UNAUTHENTICATED',
          'the registration challenge is unknown, used or expired',
          { hint: 'reload the enrolment page and try again' },
        );
      }
      let verified: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
      try {
        verified = await verifyRegistrationResponse({
          response: {
            id: credential.id,
            rawId: credential.id,
            type: 'public-key',
            response: {
              clientDataJSON: credential.clientDataJSON,
              attestationObject: credential.attestationObject,
              ...(credential.transports === undefined
                ? {}
                : { transports: [...credential.transports] }),
            },
            clientExtensionResults: {},
          },
          expectedChallenge: issued.challenge,
          expectedOrigin: origin,
          expectedRPID: rpId,
          expectedType: 'webauthn.create',
          requireUserPresence: true,
          requireUserVerification: true,
          supportedAlgorithmIDs: SUPPORTED_ALGORITHMS,
        });
      } catch (cause) {
        throw new AppError(
          'VERIFICATION_FAILED',
          `the passkey registration does not verify: ${cause instanceof Error ? cause.message : 'unreadable'}`,
          { cause },
        );
      }
      if (!verified.verified || !verified.registrationInfo.userVerified) {
        throw new AppError('VERIFICATION_FAILED', 'the passkey registration does not verify');
      }
      const info = verified.registrationInfo;
      const { spki, algorithm } = coseKeyToSpki(
        decodeCredentialPublicKey(info.credential.publicKey) as unknown as CoseKeyMap,
      );
      const record: ApproverCredentialRecord = {
        id: info.credential.id,
        userId: enrolment.userId,
        kind: 'webauthn',
        publicKeySpki: spki,
        algorithm,
        rpId,
        signCount: info.credential.counter,
        label: name,
        createdAt: now,
        revokedAt: null,
      };
      await events.appendEvent(
        PASSKEY_REGISTERED_EVENT,
        {
          credentialId: record.id,
          userId: record.userId,
          enrolmentId: enrolment.id,
          algorithm,
          rpId,
          publicKey: Buffer.from(spki).toString('base64'),
          label: name,
          registeredAt: now.toISOString(),
        },
        {
          effect: async (session) => {
            // Uses the link up in the same transaction: two racing registrations make one passkey.
            if (!(await session.enrolments.markUsed(enrolment.id, now))) {
              throw new AppError('UNAUTHENTICATED', ENROLMENT_UNAUTHENTICATED, {
                hint: ENROLMENT_HINT,
              });
            }
            await session.approverCredentials.insert(record);
            // The person (and security) hear of every new credential: one planted on someone's
            // account is noticed during the channel's cooling-off period (threat-model B6).
            await session.notifications.enqueue(
              'credential.registered',
              { credentialId: record.id, userId: record.userId, kind: 'webauthn', label: name },
              now,
            );
          },
        },
      );
      return {
        id: record.id,
        userId: record.userId,
        label: record.label,
        algorithm,
        createdAt: now,
      };
    },

    async signInOptions() {
      const now = clock.now();
      // Anyone may ask for sign-in options: expired challenges go at once, so unanswered ones
      // cannot pile up (the index on expires_at keeps this one cheap statement).
      await storage.webauthnChallenges.purgeExpired(now);
      const challenge = newChallenge();
      await storage.webauthnChallenges.insert({
        challenge,
        purpose: 'sign-in',
        userId: null,
        enrolmentId: null,
        createdAt: now,
        expiresAt: new Date(now.getTime() + WEBAUTHN_CHALLENGE_TTL_SECONDS * 1000),
      });
      return {
        challenge,
        rpId,
        timeout: CEREMONY_TIMEOUT_MS,
        userVerification: 'required',
        allowCredentials: [],
      };
    },

    async signIn(credential) {
      const refused = (message: string, hint?: string) =>
        new AppError('UNAUTHENTICATED', message, hint === undefined ? {} : { hint });
      const clientDataJSON = decodeBase64url(credential.clientDataJSON);
      const authenticatorData = decodeBase64url(credential.authenticatorData);
      const signature = decodeBase64url(credential.signature);
      const clientData = parseWebAuthnClientData(clientDataJSON);
      // B2: exactly our origin; never http:// for an https service, never a sibling subdomain.
      if (clientData.origin !== origin) {
        throw refused(`the sign-in was made on ${clientData.origin.slice(0, 200)}, not ${origin}`);
      }
      const now = clock.now();
      const issued = await storage.webauthnChallenges.consume(clientData.challenge, 'sign-in', now);
      if (issued === undefined) {
        throw refused('the sign-in challenge is unknown, used or expired', 'start again');
      }
      const stored = await storage.approverCredentials.findById(credential.id);
      if (stored?.kind !== 'webauthn' || stored.revokedAt !== null || stored.rpId !== rpId) {
        throw refused('this passkey is not registered here, or was revoked', ENROLMENT_HINT);
      }
      // B5: the user is the one the server bound the credential to; a user handle that names
      // anyone else is an attempt at substitution.
      if (
        credential.userHandle !== undefined &&
        credential.userHandle !== '' &&
        credential.userHandle !== userHandle(stored.userId)
      ) {
        throw refused('the passkey answered for another user than it is registered to');
      }
      let counter: number;
      try {
        counter = verifyWebAuthnAssertion({
          key: {
            kind: 'webauthn',
            spki: stored.publicKeySpki,
            algorithm: stored.algorithm,
            rpId,
          },
          challenge: issued.challenge,
          signature,
          assertion: { authenticatorData, clientDataJSON },
        }).authenticatorData.signCount;
      } catch (error) {
        if (!isAppError(error, 'VERIFICATION_FAILED')) throw error;
        throw refused(`the passkey sign-in does not verify: ${error.message}`);
      }
      // B4: a counter that does not move forward means two authenticators share this key.
      if ((counter !== 0 || stored.signCount !== 0) && counter <= stored.signCount) {
        throw refused(
          `the passkey's signature counter went backwards (${String(counter)} after ${String(stored.signCount)}): it may have been cloned, so the sign-in is refused`,
          'ask an admin to revoke this passkey and send you a new enrolment link',
        );
      }
      if ((await findUser(stored.userId)) === undefined) {
        throw refused(`${stored.userId} is no longer a user of the governance in force`);
      }
      await storage.webSessions.purgeExpired(clock.now());
      return storage.transaction(async (session) => {
        if (!(await session.approverCredentials.advanceSignCount(stored.id, counter))) {
          throw refused(
            `the passkey's signature counter did not move forward (${String(counter)}): it may have been cloned, so the sign-in is refused`,
            'ask an admin to revoke this passkey and send you a new enrolment link',
          );
        }
        return sessions.start(session, stored.userId, stored.id);
      });
    },

    async describeSession(cookieValue) {
      const { userId, expiresAt } = await sessions.describe(cookieValue);
      return { userId, expiresAt, passkeys: (await passkeysOf(userId)).map(toView) };
    },

    signOut: (cookieValue) => sessions.end(cookieValue),
  };
}

/**
 * The WebAuthn user handle of a governance user: SHA-256 of the id, base64url. Opaque (no
 * personal data on the authenticator, WebAuthn L2 §14.6.1) and stable without storing anything.
 */
export function userHandle(userId: string): string {
  return createHash('sha256').update(`countersign user ${userId}`, 'utf8').digest('base64url');
}

function toView(record: ApproverCredentialRecord): PasskeyView {
  return {
    id: record.id,
    label: record.label,
    algorithm: record.algorithm,
    createdAt: record.createdAt,
  };
}

/** Strict base64url (attacker-controlled): the canonical spelling only. */
function decodeBase64url(text: string): Uint8Array {
  const bytes = Buffer.from(text, 'base64url');
  if (!/^[A-Za-z0-9_-]*$/.test(text) || bytes.toString('base64url') !== text) {
    throw new AppError('INVALID_INPUT', 'a WebAuthn field is not base64url');
  }
  return new Uint8Array(bytes);
}

function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}
