// The approval page: sign in with a passkey, see the signing requests waiting for approval,
// read exactly what a request would sign, and approve or reject it with the passkey.
//
// Approving signs the canonical approval statement the server prepares. The page shows those
// exact bytes and asks the passkey for an assertion whose challenge is their SHA-256, computed
// here and checked against the server's, so what the person reads is what they sign.
import { api, ApiError } from './api.js';
import { h, notice, relativeTime, replace } from './dom.js';
import {
  describeWebAuthnError,
  fromBase64url,
  getAssertion,
  hasWebAuthn,
  sha256,
  toBase64url,
} from './webauthn.js';

const main = /** @type {HTMLElement} */ (document.getElementById('main'));
const who = /** @type {HTMLElement} */ (document.getElementById('who'));

/** @type {{ userId: string, rpId: string, passkeys: { id: string, label: string }[] } | null} */
let session = null;

async function start() {
  try {
    session = await api('GET', '/v1/passkeys/session');
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) {
      replace(main, notice('error', error.message, error.hint));
      return;
    }
    session = null;
  }
  renderWho();
  if (session === null) {
    renderSignIn();
    return;
  }
  window.addEventListener('hashchange', () => void route());
  await route();
}

function renderWho() {
  if (session === null) {
    replace(who);
    return;
  }
  replace(
    who,
    h('span', { id: 'signed-in-as' }, session.userId),
    h(
      'button',
      { type: 'button', class: 'link', id: 'sign-out', onclick: () => void signOut() },
      'Sign out',
    ),
  );
}

function renderSignIn(message) {
  const status = h('div', { id: 'status', 'aria-live': 'polite' }, message ?? null);
  const button = h(
    'button',
    { type: 'button', class: 'primary', id: 'sign-in', onclick: () => void signIn() },
    'Sign in with a passkey',
  );
  replace(
    main,
    h(
      'section',
      { class: 'card narrow' },
      h('h1', {}, 'Sign in'),
      h('p', {}, 'Approvers sign in with the passkey they registered from their enrolment link.'),
      hasWebAuthn()
        ? h('div', { class: 'actions' }, button)
        : notice('error', 'This browser cannot use passkeys.'),
      status,
    ),
  );

  async function signIn() {
    button.setAttribute('disabled', '');
    replace(status, notice('info', 'Follow the prompt of your browser or security key…'));
    try {
      const options = await api('POST', '/v1/passkeys/sign-in/options', {});
      const credential = await getAssertion({
        challenge: fromBase64url(options.challenge),
        rpId: options.rpId,
        allowCredentials: [],
        timeout: options.timeout,
      });
      await api('POST', '/v1/passkeys/sign-in/verify', { credential });
      await start();
    } catch (error) {
      button.removeAttribute('disabled');
      replace(status, notice('error', describeWebAuthnError(error), error.hint));
    }
  }
}

async function signOut() {
  try {
    await api('POST', '/v1/passkeys/sign-out', {});
  } finally {
    session = null;
    renderWho();
    history.replaceState(null, '', '/ui/');
    renderSignIn(notice('ok', 'Signed out.'));
  }
}

async function route() {
  const match = /^#\/requests\/([\w.~%-]{1,200})$/.exec(location.hash);
  if (match) await renderRequest(decodeURIComponent(match[1]));
  else await renderPending();
}

async function renderPending() {
  replace(main, h('p', { class: 'muted' }, 'Loading signing requests…'));
  let requests;
  try {
    const answer = await api('GET', '/v1/requests?state=pending');
    requests = Array.isArray(answer) ? answer : (answer?.requests ?? []);
  } catch (error) {
    handleError(error);
    return;
  }
  replace(
    main,
    h(
      'section',
      {},
      h('h1', {}, 'Waiting for approval'),
      requests.length === 0
        ? h('p', { class: 'muted', id: 'no-requests' }, 'Nothing is waiting for approval.')
        : h(
            'ul',
            { class: 'request-list', id: 'pending-requests' },
            requests.map((request) =>
              h(
                'li',
                {},
                h(
                  'a',
                  {
                    href: `#/requests/${encodeURIComponent(request.id)}`,
                    class: 'request-link',
                    'data-request-id': request.id,
                  },
                  h('span', { class: 'pill' }, `${request.product} / ${request.channel}`),
                  h('span', { class: 'subject' }, subjectSummary(request.subjects)),
                  h('span', { class: 'muted' }, requesterSummary(request.requester)),
                  h(
                    'span',
                    { class: 'count' },
                    `${request.approvals?.count ?? 0} of ${request.approvals?.required ?? '?'} approvals · expires ${relativeTime(request.expiresAt)}`,
                  ),
                ),
              ),
            ),
          ),
    ),
  );
}

/**
 * @param {string} id
 * @param {HTMLElement} [flash] a notice to show above the request
 */
async function renderRequest(id, flash) {
  replace(main, h('p', { class: 'muted' }, 'Loading the request…'));
  let request;
  try {
    request = await api('GET', `/v1/requests/${encodeURIComponent(id)}`);
  } catch (error) {
    handleError(error);
    return;
  }
  const requester = request.requester ?? {};
  const context = request.context ?? {};
  const reasons = request.reasons ?? context.reasons ?? [];
  const evidence = request.evidence ?? context.evidence;
  const approvals = request.approvals ?? {};
  const notCounted = approvals.notCounted ?? approvals.rejected ?? [];
  const decisionArea = h('div', { id: 'decision' });

  replace(
    main,
    h('p', {}, h('a', { href: '#', id: 'back' }, '← All waiting requests')),
    flash ?? null,
    h(
      'section',
      { class: 'card', id: 'request', 'data-state': request.state },
      h(
        'div',
        { class: 'request-head' },
        h(
          'h1',
          {},
          `Sign ${request.kind === 'attestation' ? 'an attestation' : 'an artifact'} for ${request.product} / ${request.channel}`,
        ),
        h('span', { class: `state state-${request.state}`, id: 'request-state' }, request.state),
      ),
      h(
        'p',
        { class: 'muted' },
        `Request ${request.id} · created ${relativeTime(request.createdAt)} · expires ${relativeTime(request.expiresAt)}`,
      ),

      h('h2', {}, 'What will be signed'),
      h(
        'table',
        { class: 'subjects' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Digest'))),
        h(
          'tbody',
          {},
          (request.subjects ?? []).map((subject) =>
            h(
              'tr',
              {},
              h('td', {}, subject.name),
              h(
                'td',
                { class: 'mono digest' },
                `${subject.digest.algorithm}:${subject.digest.value}`,
              ),
            ),
          ),
        ),
      ),

      h('h2', {}, 'Where it comes from'),
      facts([
        ['Product / channel', `${request.product} / ${request.channel}`],
        ['Repository', requester.repository],
        ['Repository id', requester.repositoryId],
        ['Commit', requester.commitSha, 'mono'],
        ['Workflow', requester.workflow],
        ['Ref', requester.ref, 'mono'],
        ['Environment', requester.environment],
        ['Event', requester.event],
        ['Run', requester.runId],
        ['Workload identity', requester.identityUri, 'mono'],
        ['Issuer', requester.issuer],
      ]),

      h('h2', {}, 'Evidence'),
      renderEvidence(evidence),

      h('h2', {}, 'Why it needs approval'),
      reasons.length === 0
        ? h('p', { class: 'muted' }, 'The policy gave no reason.')
        : h(
            'ul',
            { class: 'reasons', id: 'reasons' },
            reasons.map((reason) => h('li', {}, reason)),
          ),
      h('p', { class: 'muted small' }, `Policy version ${request.policyHash}`),

      h('h2', {}, 'Approvals'),
      h(
        'p',
        { class: 'count-line', id: 'approval-count' },
        h('strong', {}, `${approvals.count ?? 0} of ${approvals.required ?? '?'}`),
        approvals.group ? ` approvals from ${approvals.group}` : ' approvals',
        approvals.missing ? ` · ${approvals.missing}` : '',
      ),
      (approvals.submitted ?? []).length === 0
        ? h('p', { class: 'muted' }, 'Nobody has answered yet.')
        : h(
            'ul',
            { class: 'submitted' },
            approvals.submitted.map((answer) =>
              h(
                'li',
                {},
                h(
                  'span',
                  { class: `decision decision-${answer.decision}` },
                  answer.decision === 'approve' ? 'approved' : 'rejected',
                ),
                ` by ${answer.userId} ${relativeTime(answer.createdAt)}`,
                answer.comment ? h('q', {}, answer.comment) : null,
              ),
            ),
          ),
      notCounted.length === 0
        ? null
        : h(
            'ul',
            { class: 'not-counted' },
            notCounted.map((entry) => h('li', {}, `Not counted: ${entry.reason}`)),
          ),
      decisionArea,
    ),
  );
  document.getElementById('back')?.addEventListener('click', (event) => {
    event.preventDefault();
    location.hash = '';
  });
  if (request.state === 'pending') renderDecision(decisionArea, request);
}

/**
 * @param {HTMLElement} area
 * @param {any} request
 */
function renderDecision(area, request) {
  const comment = h('textarea', {
    id: 'comment',
    rows: '3',
    maxlength: '2000',
    placeholder: 'Optional for an approval; say why when you reject.',
  });
  const status = h('div', { id: 'status', 'aria-live': 'polite' });
  const approve = h(
    'button',
    { type: 'button', class: 'primary', id: 'approve', onclick: () => void prepare('approve') },
    'Approve',
  );
  const reject = h(
    'button',
    { type: 'button', class: 'danger', id: 'reject', onclick: () => void prepare('reject') },
    'Reject',
  );
  const review = h('div', { id: 'review' });
  replace(
    area,
    h('h2', {}, 'Your decision'),
    h('label', { for: 'comment' }, 'Comment'),
    comment,
    h('div', { class: 'actions' }, approve, reject),
    review,
    status,
  );

  /** @param {'approve' | 'reject'} decision */
  async function prepare(decision) {
    approve.setAttribute('disabled', '');
    reject.setAttribute('disabled', '');
    replace(status);
    try {
      const prepared = await api(
        'POST',
        `/v1/requests/${encodeURIComponent(request.id)}/approval-statement`,
        {
          decision,
          comment: /** @type {HTMLTextAreaElement} */ (comment).value,
        },
      );
      const statement = fromBase64url(prepared.statement);
      const challenge = await sha256(statement);
      // The server says which challenge it expects; it must be the hash of what is shown here.
      if (toBase64url(challenge) !== prepared.challenge) {
        throw new Error(
          "The server's challenge is not the hash of the statement it sent. Nothing was signed.",
        );
      }
      const text = new TextDecoder().decode(statement);
      let pretty = text;
      try {
        pretty = JSON.stringify(JSON.parse(text), null, 2);
      } catch {
        // Shown as sent.
      }
      const sign = h(
        'button',
        {
          type: 'button',
          class: decision === 'approve' ? 'primary' : 'danger',
          id: 'sign-statement',
          onclick: () => void submit(),
        },
        decision === 'approve' ? 'Sign approval with passkey' : 'Sign rejection with passkey',
      );
      const cancel = h(
        'button',
        {
          type: 'button',
          id: 'cancel',
          onclick: () => {
            replace(review);
            approve.removeAttribute('disabled');
            reject.removeAttribute('disabled');
          },
        },
        'Cancel',
      );
      replace(
        review,
        h(
          'div',
          { class: 'statement' },
          h(
            'p',
            {},
            `You are about to sign this ${decision === 'approve' ? 'approval' : 'rejection'} statement (SHA-256 ${toBase64url(challenge)}):`,
          ),
          h('pre', { id: 'statement', class: 'mono' }, pretty),
          h('div', { class: 'actions' }, sign, cancel),
        ),
      );

      async function submit() {
        sign.setAttribute('disabled', '');
        cancel.setAttribute('disabled', '');
        replace(status, notice('info', 'Confirm with your passkey…'));
        try {
          const assertion = await getAssertion({
            challenge,
            rpId: session.rpId,
            allowCredentials: session.passkeys.map((passkey) => passkey.id),
          });
          await api('POST', `/v1/requests/${encodeURIComponent(request.id)}/approvals`, {
            statement: prepared.statement,
            credentialId: assertion.id,
            signature: assertion.signature,
            webauthn: {
              authenticatorData: assertion.authenticatorData,
              clientDataJSON: assertion.clientDataJSON,
            },
          });
          await renderRequest(
            request.id,
            notice(
              'ok',
              decision === 'approve' ? 'Your approval is recorded.' : 'Your rejection is recorded.',
            ),
          );
        } catch (error) {
          sign.removeAttribute('disabled');
          cancel.removeAttribute('disabled');
          replace(status, notice('error', describeWebAuthnError(error), error.hint));
        }
      }
    } catch (error) {
      approve.removeAttribute('disabled');
      reject.removeAttribute('disabled');
      replace(status, notice('error', error.message, error.hint));
    }
  }
}

/** @param {Array<[string, unknown, string?]>} rows */
function facts(rows) {
  const shown = rows.filter(([, value]) => value !== undefined && value !== null && value !== '');
  return h(
    'dl',
    { class: 'facts' },
    shown.map(([name, value, kind]) => [
      h('dt', {}, name),
      h('dd', kind ? { class: kind } : {}, String(value)),
    ]),
  );
}

/** @param {unknown} evidence */
function renderEvidence(evidence) {
  const items = Array.isArray(evidence)
    ? evidence
    : evidence && typeof evidence === 'object'
      ? Object.entries(evidence).map(([kind, value]) => ({ kind, value }))
      : [];
  if (items.length === 0) return h('p', { class: 'muted' }, 'None was submitted.');
  return h(
    'ul',
    { class: 'evidence' },
    items.map((item) => {
      const digest = item.digest?.sha256 ?? item.digest?.value;
      return h(
        'li',
        {},
        h('strong', {}, String(item.kind ?? 'evidence')),
        digest
          ? h('span', { class: 'mono' }, ` sha256:${digest}`)
          : typeof item.value === 'string'
            ? ` ${item.value}`
            : '',
      );
    }),
  );
}

/** @param {Array<{ name: string }> | undefined} subjects */
function subjectSummary(subjects) {
  if (!subjects || subjects.length === 0) return '(no subject)';
  return subjects.length === 1
    ? subjects[0].name
    : `${subjects[0].name} and ${subjects.length - 1} more`;
}

/** @param {any} requester */
function requesterSummary(requester) {
  if (!requester) return '';
  const where = requester.repository ?? requester.identityUri ?? requester.subject ?? '';
  const ref = requester.ref ? ` @ ${requester.ref}` : '';
  return `${where}${ref}`;
}

/** @param {unknown} error */
function handleError(error) {
  if (error instanceof ApiError && error.status === 401) {
    session = null;
    renderWho();
    renderSignIn(notice('info', 'Your session ended. Sign in again.'));
    return;
  }
  replace(
    main,
    notice('error', error instanceof Error ? error.message : String(error), error?.hint),
  );
}

void start();
