// WebAuthn in the browser, without a library: base64url, SHA-256, and the two ceremonies.

/** @param {ArrayBuffer | Uint8Array} bytes */
export function toBase64url(bytes) {
  const array = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let binary = '';
  for (const byte of array) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** @param {string} text */
export function fromBase64url(text) {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** @param {Uint8Array} bytes */
export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

/** True when this browser can use passkeys at all. */
export function hasWebAuthn() {
  return typeof window.PublicKeyCredential === 'function' && !!navigator.credentials;
}

/**
 * Runs navigator.credentials.create with server options (base64url fields) and returns the
 * fields the server's registration endpoint takes.
 * @param {any} options PublicKeyCredentialCreationOptionsJSON from the server
 */
export async function createPasskey(options) {
  const credential = await navigator.credentials.create({
    publicKey: {
      ...options,
      challenge: fromBase64url(options.challenge),
      user: { ...options.user, id: fromBase64url(options.user.id) },
      excludeCredentials: options.excludeCredentials.map((c) => ({
        type: c.type,
        id: fromBase64url(c.id),
      })),
    },
  });
  if (!credential) throw new Error('no passkey was created');
  const response = /** @type {AuthenticatorAttestationResponse} */ (credential.response);
  return {
    id: toBase64url(credential.rawId),
    clientDataJSON: toBase64url(response.clientDataJSON),
    attestationObject: toBase64url(response.attestationObject),
    ...(typeof response.getTransports === 'function'
      ? { transports: response.getTransports() }
      : {}),
  };
}

/**
 * Runs navigator.credentials.get for `challenge` (bytes) and returns base64url fields.
 * @param {{ challenge: Uint8Array, rpId: string, allowCredentials: string[], timeout?: number }} request
 */
export async function getAssertion(request) {
  const credential = await navigator.credentials.get({
    publicKey: {
      challenge: request.challenge,
      rpId: request.rpId,
      timeout: request.timeout ?? 120000,
      userVerification: 'required',
      allowCredentials: request.allowCredentials.map((id) => ({
        type: 'public-key',
        id: fromBase64url(id),
      })),
    },
  });
  if (!credential) throw new Error('the passkey gave no answer');
  const response = /** @type {AuthenticatorAssertionResponse} */ (credential.response);
  return {
    id: toBase64url(credential.rawId),
    clientDataJSON: toBase64url(response.clientDataJSON),
    authenticatorData: toBase64url(response.authenticatorData),
    signature: toBase64url(response.signature),
    ...(response.userHandle ? { userHandle: toBase64url(response.userHandle) } : {}),
  };
}

/**
 * Words for a failed ceremony: the browser's errors are terse.
 * @param {unknown} error
 */
export function describeWebAuthnError(error) {
  if (error instanceof DOMException) {
    if (error.name === 'NotAllowedError') {
      return 'The passkey prompt was cancelled or timed out. Try again when ready.';
    }
    if (error.name === 'InvalidStateError') {
      return 'This authenticator already holds a passkey for you here.';
    }
    if (error.name === 'SecurityError') {
      return 'This page is not at the address the service is configured for (server.publicUrl).';
    }
  }
  return error instanceof Error ? error.message : String(error);
}
