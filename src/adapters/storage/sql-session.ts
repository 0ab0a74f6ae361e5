/**
 * The one place where repositories join a session: a new repository is a class taking a
 * `SqlContext`, added to `StorageSession` in `src/core/ports.ts` and here. Both engines and both
 * kinds of session (auto-commit, transaction) get it from this function.
 */
import type { StorageSession } from '../../core/ports.ts';
import { SqlApiTokenRepository } from './api-token-repository.ts';
import { SqlApproverCredentialRepository } from './approver-credential-repository.ts';
import { SqlExceptionRepository } from './exception-repository.ts';
import { SqlGovernanceRepository } from './governance-repository.ts';
import { SqlLogRepository } from './log-repository.ts';
import {
  SqlEnrolmentRepository,
  SqlWebAuthnChallengeRepository,
  SqlWebSessionRepository,
} from './passkey-repositories.ts';
import { SqlPkiRepository } from './pki-repository.ts';
import { SqlSigningRepository } from './signing-repository.ts';
import {
  SqlApprovalRepository,
  SqlSigningRequestRepository,
} from './signing-request-repository.ts';
import type { SqlContext } from './sql-context.ts';
import { SqlUsedTokenIdRepository } from './used-token-id-repository.ts';
import { SqlNotificationOutbox, SqlWebhookRepository } from './webhook-repository.ts';

/** The repositories of one unit of work over `context`. */
export function createSqlSession(context: SqlContext): StorageSession {
  return {
    apiTokens: new SqlApiTokenRepository(context),
    log: new SqlLogRepository(context),
    governance: new SqlGovernanceRepository(context),
    usedTokenIds: new SqlUsedTokenIdRepository(context),
    pki: new SqlPkiRepository(context),
    signings: new SqlSigningRepository(context),
    approverCredentials: new SqlApproverCredentialRepository(context),
    signingRequests: new SqlSigningRequestRepository(context),
    approvals: new SqlApprovalRepository(context),
    notifications: new SqlNotificationOutbox(context),
    webhooks: new SqlWebhookRepository(context),
    webauthnChallenges: new SqlWebAuthnChallengeRepository(context),
    webSessions: new SqlWebSessionRepository(context),
    enrolments: new SqlEnrolmentRepository(context),
    exceptions: new SqlExceptionRepository(context),
  };
}
