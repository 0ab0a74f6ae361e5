// The enrolment page: opened from a one-time link (`/ui/enrol.html#token=…`), it registers one
// passkey for the person the link was made for.
import { api } from './api.js';
import { h, notice, replace } from './dom.js';
import { createPasskey, describeWebAuthnError, hasWebAuthn } from './webauthn.js';

const main = /** @type {HTMLElement} */ (document.getElementById('main'));

/** The token rides in the fragment, which browsers never send to a server. */
function takeToken() {
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (match) {
    sessionStorage.setItem('countersign-enrolment', decodeURIComponent(match[1]));
    // Out of the address bar and the history: the link is a secret until it is used.
    history.replaceState(null, '', location.pathname);
  }
  return sessionStorage.getItem('countersign-enrolment');
}

async function start() {
  const token = takeToken();
  if (!token) {
    replace(
      main,
      notice(
        'error',
        'This page needs an enrolment link.',
        'Ask an admin for one: countersign passkey enrol-link --user YOUR-ID',
      ),
    );
    return;
  }
  if (!hasWebAuthn()) {
    replace(main, notice('error', 'This browser cannot use passkeys.'));
    return;
  }
  let prepared;
  try {
    prepared = await api('POST', '/v1/passkeys/registration/options', { enrolmentToken: token });
  } catch (error) {
    sessionStorage.removeItem('countersign-enrolment');
    replace(main, notice('error', error.message, error.hint));
    return;
  }
  const label = h('input', {
    id: 'label',
    name: 'label',
    type: 'text',
    maxlength: '100',
    value: 'passkey',
    autocomplete: 'off',
  });
  const status = h('div', { id: 'status', 'aria-live': 'polite' });
  const button = h(
    'button',
    { id: 'create-passkey', class: 'primary', type: 'button', onclick: () => void register() },
    'Create passkey',
  );
  replace(
    main,
    h(
      'section',
      { class: 'card' },
      h('h1', {}, 'Register a passkey'),
      h(
        'p',
        {},
        'This one-time link registers a passkey for ',
        h('strong', { id: 'user-id' }, prepared.userId),
        '. You will approve signing requests with it, so your device will ask you to unlock it (PIN, fingerprint or face).',
      ),
      h('label', { for: 'label' }, 'Name this passkey (so you recognise it later)'),
      label,
      h('div', { class: 'actions' }, button),
      status,
    ),
  );

  async function register() {
    button.setAttribute('disabled', '');
    replace(status, notice('info', 'Follow the prompt of your browser or security key…'));
    try {
      const credential = await createPasskey(prepared.options);
      const registered = await api('POST', '/v1/passkeys/registration/verify', {
        enrolmentToken: token,
        credential,
        label: /** @type {HTMLInputElement} */ (label).value.trim() || 'passkey',
      });
      sessionStorage.removeItem('countersign-enrolment');
      replace(
        main,
        h(
          'section',
          { class: 'card' },
          h('h1', {}, 'Passkey registered'),
          notice('ok', `"${registered.label}" now belongs to ${registered.userId}.`),
          h('p', {}, 'The link is used up. Sign in to see the signing requests waiting for you.'),
          h(
            'div',
            { class: 'actions' },
            h('a', { class: 'button primary', href: '/ui/', id: 'go-sign-in' }, 'Go to sign in'),
          ),
        ),
      );
    } catch (error) {
      button.removeAttribute('disabled');
      replace(status, notice('error', describeWebAuthnError(error), error.hint));
    }
  }
}

void start();
