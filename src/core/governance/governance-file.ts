/**
 * Governance as code: `governance.yaml` → a validated `Governance` snapshot. Pure: the caller
 * reads the file (and later the extra Cedar files it names); this module only checks and converts.
 *
 * Strict by design (DESIGN.md §9): unknown fields are refused with a suggestion, every reference
 * (product, channel, group, user, issuer) must resolve, and every problem is reported at once with
 * its line, so `countersign plan` fails before anything is applied.
 */
import { Value } from '@sinclair/typebox/value';
import { tryParseDuration } from '../duration.ts';
import { AppError, isAppError } from '../errors.ts';
import type { FieldError } from '../errors.ts';
import { DEFAULT_APPROVAL_LIFETIME_SECONDS, DEFAULT_EXCEPTION_RULES } from './governance.ts';
import type {
  Channel,
  ChangeWindow,
  Entitlement,
  ExceptionRules,
  Governance,
  Group,
  InlinePolicy,
  Product,
  User,
} from './governance.ts';
import { describeScheduleProblem } from './change-window.ts';
import { GovernanceFileSchema } from './governance-schema.ts';
import type { GovernanceFileDocument } from './governance-schema.ts';
import { validateIssuerConfig } from './issuer.ts';
import type { IssuerConfig } from './issuer.ts';
import { formatFieldErrors, readYamlDocument } from './read-yaml-document.ts';
import type { YamlDocumentResult } from './read-yaml-document.ts';
import { withSuggestion } from './suggest-name.ts';

/** Options for `parseGovernanceFile`. */
export interface ParseGovernanceOptions {
  /** Name used in messages, e.g. `governance.yaml` or `ops/governance.yaml`. */
  readonly fileName?: string;
  /** When given, expired entitlements and overdue reviews are reported as warnings. */
  readonly now?: Date;
}

/** A parsed governance file. */
export interface GovernanceFile {
  readonly governance: Governance;
  /** Things that are valid but need attention (expired entitlements, overdue reviews). */
  readonly warnings: readonly FieldError[];
}

/**
 * Issuer types whose `sub` claim is customisable or derived from names (GitHub, GitLab): an
 * entitlement for them must select an immutable id, not the subject (threat model A17, C1).
 */
/** Bounds on `exceptions:` durations: break-glass is short-lived, its review prompt. */
const MAX_EXCEPTION_DURATION_SECONDS = 30 * 86_400;
const MAX_REVIEW_WITHIN_SECONDS = 90 * 86_400;

const SUBJECT_IS_NOT_AN_ID: ReadonlySet<string> = new Set(['github-actions', 'gitlab']);

/** Reads every value of the document as possibly missing: the reader omits what failed. */
type Loose<T> = T extends readonly (infer U)[]
  ? readonly (Loose<U> | undefined)[]
  : T extends object
    ? { readonly [K in keyof T]?: Loose<T[K]> }
    : T;
type LooseDocument = Loose<GovernanceFileDocument>;
type LooseEntitlement = NonNullable<NonNullable<LooseDocument['entitlements']>[number]>;
type LooseSelector = NonNullable<LooseEntitlement['selector']>;
type LooseChannel = NonNullable<
  NonNullable<NonNullable<NonNullable<LooseDocument['products']>[number]>['channels']>[number]
>;
type LooseChangeWindow = NonNullable<NonNullable<LooseChannel['changeWindows']>[number]>;

/**
 * Parses and validates `governance.yaml`.
 *
 * @param text - the file contents (operator-written; size-capped and strictly checked).
 * @returns the governance snapshot and warnings.
 * @throws AppError CONFIG_INVALID listing every problem, each `FieldError` with `path` (e.g.
 *   `entitlements[2].selector.repositoryId`) and `source` (`governance.yaml:14`). The message is
 *   the same list, one `file:line: path: message` per line.
 */
export function parseGovernanceFile(
  text: string,
  options: ParseGovernanceOptions = {},
): GovernanceFile {
  const fileName = options.fileName ?? 'governance.yaml';
  const read = readYamlDocument(text, GovernanceFileSchema, { fileName });
  const errors: FieldError[] = [...read.errors];
  const warnings: FieldError[] = [];
  const doc = isObject(read.value) ? (read.value as LooseDocument) : undefined;
  if (doc === undefined) throw invalid(fileName, errors);

  const checker = new ReferenceChecker(doc, read, errors);
  const issuers = checker.checkIssuers();
  checker.checkUsersAndGroups();
  checker.checkProducts();
  checker.checkEntitlements(issuers);
  checker.checkPolicies();
  checker.checkExceptions();
  if (errors.length > 0) throw invalid(fileName, errors);

  // The reader and the schema must agree; if they do not, that is our bug, not the operator's.
  if (!Value.Check(GovernanceFileSchema, read.value)) {
    throw new AppError('INTERNAL', 'governance file reader accepted a document its schema rejects');
  }
  const governance = buildGovernance(read.value, issuers, read);
  if (options.now !== undefined) collectWarnings(governance, options.now, read, warnings);
  return { governance, warnings };
}

function invalid(fileName: string, unsorted: readonly FieldError[]): AppError {
  const errors = [...unsorted].sort((a, b) => lineOf(a) - lineOf(b));
  const count = errors.length === 1 ? '1 problem' : `${String(errors.length)} problems`;
  return new AppError('CONFIG_INVALID', `${fileName} has ${count}:\n${formatFieldErrors(errors)}`, {
    errors,
    hint: 'fix every listed line, then run `countersign plan` again',
  });
}

/** The line in a `file:line` source, for ordering messages the way the file reads. */
function lineOf(error: FieldError): number {
  const match = /:(\d+)$/.exec(error.source ?? '');
  return match?.[1] === undefined ? 0 : Number(match[1]);
}

/** Cross-field and cross-reference checks over the (possibly partly invalid) document. */
class ReferenceChecker {
  readonly #doc: LooseDocument;
  readonly #read: YamlDocumentResult;
  readonly #errors: FieldError[];
  readonly #users = new Set<string>();
  readonly #groups = new Map<string, { purpose: string | undefined; members: number }>();
  readonly #products = new Map<string, Set<string>>();

  constructor(doc: LooseDocument, read: YamlDocumentResult, errors: FieldError[]) {
    this.#doc = doc;
    this.#read = read;
    this.#errors = errors;
  }

  #report(path: string, message: string): void {
    this.#errors.push({ path, message, source: this.#read.sourceOf(path) });
  }

  #hasErrorsUnder(path: string): boolean {
    return this.#errors.some(
      (e) => e.path === path || e.path.startsWith(`${path}.`) || e.path.startsWith(`${path}[`),
    );
  }

  /** Validates each structurally sound issuer with the identity rules (`validateIssuerConfig`). */
  checkIssuers(): IssuerConfig[] {
    const out: IssuerConfig[] = [];
    const names = new Set<string>();
    const urls = new Map<string, string>();
    (this.#doc.issuers ?? []).forEach((entry, index) => {
      const path = `issuers[${String(index)}]`;
      if (entry === undefined || this.#hasErrorsUnder(path)) return;
      try {
        out.push(validateIssuerConfig(entry, path));
      } catch (error) {
        if (!isAppError(error, 'CONFIG_INVALID')) throw error;
        for (const e of error.errors) this.#report(e.path, e.message);
        return;
      }
      if (entry.name !== undefined) {
        if (names.has(entry.name))
          this.#report(`${path}.name`, `issuer ${entry.name} is defined twice`);
        names.add(entry.name);
      }
      if (entry.issuer !== undefined) {
        const other = urls.get(entry.issuer);
        // Entitlements resolve issuers by their `iss`; two entries with one `iss` would make a
        // token's issuer ambiguous.
        if (other !== undefined) this.#report(`${path}.issuer`, `same iss as issuer ${other}`);
        else urls.set(entry.issuer, entry.name ?? path);
      }
    });
    return out;
  }

  checkUsersAndGroups(): void {
    const emails = new Map<string, string>();
    (this.#doc.users ?? []).forEach((user, index) => {
      const path = `users[${String(index)}]`;
      if (user?.id !== undefined) {
        if (this.#users.has(user.id))
          this.#report(`${path}.id`, `user ${user.id} is defined twice`);
        this.#users.add(user.id);
      }
      if (user?.email !== undefined) {
        // E-mail addresses are compared without case: two accounts for one mailbox is a mistake.
        const key = user.email.toLowerCase();
        const other = emails.get(key);
        if (other !== undefined) this.#report(`${path}.email`, `same e-mail as user ${other}`);
        emails.set(key, user.id ?? path);
      }
    });
    (this.#doc.groups ?? []).forEach((group, index) => {
      const path = `groups[${String(index)}]`;
      if (group?.name === undefined) return;
      if (this.#groups.has(group.name))
        this.#report(`${path}.name`, `group ${group.name} is defined twice`);
      this.#groups.set(group.name, { purpose: group.purpose, members: group.members?.length ?? 0 });
      (group.members ?? []).forEach((member, memberIndex) => {
        if (member !== undefined && !this.#users.has(member)) {
          this.#report(
            `${path}.members[${String(memberIndex)}]`,
            withSuggestion(`unknown user ${member}`, member, this.#users),
          );
        }
      });
    });
  }

  #checkOwner(path: string, owner: string | undefined): void {
    if (owner === undefined || this.#users.has(owner) || this.#groups.has(owner)) return;
    this.#report(
      path,
      withSuggestion(`unknown owner ${owner}: name a user id or a group`, owner, [
        ...this.#users,
        ...this.#groups.keys(),
      ]),
    );
  }

  #checkGroupRef(
    path: string,
    name: string | undefined,
    purpose: 'approvers' | 'emergency',
  ): number | undefined {
    if (name === undefined) return undefined;
    const group = this.#groups.get(name);
    if (group === undefined) {
      this.#report(path, withSuggestion(`unknown group ${name}`, name, this.#groups.keys()));
      return undefined;
    }
    if (group.purpose !== undefined && group.purpose !== purpose) {
      this.#report(
        path,
        `group ${name} has purpose ${group.purpose}; this needs a group with purpose ${purpose}`,
      );
    }
    return group.members;
  }

  checkProducts(): void {
    (this.#doc.products ?? []).forEach((product, index) => {
      const path = `products[${String(index)}]`;
      if (product === undefined) return;
      if (product.name !== undefined) {
        if (this.#products.has(product.name))
          this.#report(`${path}.name`, `product ${product.name} is defined twice`);
        else this.#products.set(product.name, new Set());
      }
      this.#checkOwner(`${path}.owner`, product.owner);
      const channels =
        product.name === undefined
          ? new Set<string>()
          : (this.#products.get(product.name) ?? new Set<string>());
      (product.channels ?? []).forEach((channel, channelIndex) => {
        const channelPath = `${path}.channels[${String(channelIndex)}]`;
        if (channel === undefined) return;
        if (channel.name !== undefined) {
          if (channels.has(channel.name))
            this.#report(`${channelPath}.name`, `channel ${channel.name} is defined twice`);
          channels.add(channel.name);
        }
        const approval = channel.approval;
        if (
          approval?.required !== undefined &&
          approval.required > 0 &&
          approval.group === undefined
        ) {
          this.#report(
            `${channelPath}.approval.group`,
            'required when approval.required is more than 0',
          );
        }
        const members = this.#checkGroupRef(
          `${channelPath}.approval.group`,
          approval?.group,
          'approvers',
        );
        if (
          members !== undefined &&
          approval?.required !== undefined &&
          approval.required > members
        ) {
          this.#report(
            `${channelPath}.approval.required`,
            `needs ${String(approval.required)} approvals but group ${approval.group ?? ''} has ${String(members)} member(s): nothing could ever be signed`,
          );
        }
        const second = approval?.secondGroup;
        if (second !== undefined) {
          const secondMembers = this.#checkGroupRef(
            `${channelPath}.approval.secondGroup.group`,
            second.group,
            'approvers',
          );
          if (second.group === approval?.group) {
            this.#report(
              `${channelPath}.approval.secondGroup.group`,
              'must differ from approval.group (use a larger approval.required instead)',
            );
          } else if (
            secondMembers !== undefined &&
            second.required !== undefined &&
            second.required > secondMembers
          ) {
            this.#report(
              `${channelPath}.approval.secondGroup.required`,
              `needs ${String(second.required)} approvals but group ${second.group} has ${String(secondMembers)} member(s): nothing could ever be signed`,
            );
          }
        }
        if (
          approval?.minCredentialAge !== undefined &&
          tryParseDuration(approval.minCredentialAge) === undefined
        ) {
          this.#report(
            `${channelPath}.approval.minCredentialAge`,
            `${approval.minCredentialAge} is not a duration such as 24h or 7d`,
          );
        }
        if (approval?.lifetime !== undefined && tryParseDuration(approval.lifetime) === undefined) {
          this.#report(
            `${channelPath}.approval.lifetime`,
            `${approval.lifetime} is not a duration such as 8h, 2d or 1h30m`,
          );
        }
        this.#checkEmergencyGroup(`${channelPath}.emergencyGroup`, channel.emergencyGroup);
        (channel.changeWindows ?? []).forEach((window, windowIndex) => {
          const windowPath = `${channelPath}.changeWindows[${String(windowIndex)}]`;
          if (window === undefined) return;
          this.#checkChangeWindow(windowPath, window);
          if (window?.timeZone !== undefined && !isTimeZone(window.timeZone)) {
            this.#report(
              `${windowPath}.timeZone`,
              `unknown time zone ${window.timeZone} (use an IANA name such as Europe/Berlin)`,
            );
          }
        });
      });
    });
  }

  /** One change window: weekly or a schedule, never both, never a start equal to its end. */
  #checkChangeWindow(path: string, window: LooseChangeWindow): void {
    const weeklyFields = (['days', 'start', 'end'] as const).filter((f) => window[f] !== undefined);
    if (window.schedule !== undefined) {
      if (weeklyFields.length > 0) {
        this.#report(
          `${path}.schedule`,
          `give either schedule or days/start/end, not both (remove ${weeklyFields.join(', ')})`,
        );
        return;
      }
      const problem = describeScheduleProblem(window.schedule);
      if (problem !== undefined) this.#report(`${path}.schedule`, problem);
      return;
    }
    const missing = (['days', 'start', 'end'] as const).filter((f) => window[f] === undefined);
    if (missing.length > 0) {
      // Only a wholly absent field: one the reader rejected is reported already.
      if (missing.some((f) => this.#read.lineOf(`${path}.${f}`) === undefined)) {
        this.#report(
          path,
          `a change window needs days, start and end, or a schedule (missing ${missing.join(', ')})`,
        );
      }
      return;
    }
    if (window.start === window.end) {
      this.#report(
        `${path}.end`,
        `equals start (${window.start ?? ''}): give a later end, an earlier one to span midnight, or a schedule such as "* * * * mon"`,
      );
    }
  }

  checkEntitlements(issuers: readonly IssuerConfig[]): void {
    const ids = new Set<string>();
    (this.#doc.entitlements ?? []).forEach((entitlement, index) => {
      const path = `entitlements[${String(index)}]`;
      if (entitlement === undefined) return;
      if (entitlement.id !== undefined) {
        if (ids.has(entitlement.id))
          this.#report(`${path}.id`, `entitlement ${entitlement.id} is defined twice`);
        ids.add(entitlement.id);
      }
      const selector = entitlement.selector;
      if (selector !== undefined) this.#checkSelector(`${path}.selector`, selector, issuers);
      const grants = entitlement.grants;
      if (grants?.product !== undefined) {
        const channels = this.#products.get(grants.product);
        if (channels === undefined) {
          this.#report(
            `${path}.grants.product`,
            withSuggestion(
              `unknown product ${grants.product}`,
              grants.product,
              this.#products.keys(),
            ),
          );
        } else {
          (grants.channels ?? []).forEach((channel, channelIndex) => {
            if (channel !== undefined && !channels.has(channel)) {
              this.#report(
                `${path}.grants.channels[${String(channelIndex)}]`,
                withSuggestion(
                  `unknown channel ${channel} of product ${grants.product ?? ''}`,
                  channel,
                  channels,
                ),
              );
            }
          });
        }
      }
      this.#checkOwner(`${path}.owner`, entitlement.owner);
      const expiresAt = this.#checkTimestamp(`${path}.expiresAt`, entitlement.expiresAt);
      const reviewAt = this.#checkTimestamp(`${path}.reviewAt`, entitlement.reviewAt);
      if (expiresAt !== undefined && reviewAt !== undefined && reviewAt > expiresAt) {
        this.#report(
          `${path}.reviewAt`,
          `must not be after expiresAt (${entitlement.expiresAt ?? ''})`,
        );
      }
    });
  }

  #checkSelector(path: string, selector: LooseSelector, issuers: readonly IssuerConfig[]): void {
    if (selector.issuer === undefined) return;
    const issuer = issuers.find((i) => i.name === selector.issuer);
    const declared = (this.#doc.issuers ?? []).some((i) => i?.name === selector.issuer);
    if (!declared) {
      this.#report(
        `${path}.issuer`,
        withSuggestion(
          `unknown issuer ${selector.issuer}`,
          selector.issuer,
          issuers.map((i) => i.name),
        ),
      );
      return;
    }
    const hasId =
      selector.repositoryId !== undefined ||
      selector.ownerId !== undefined ||
      selector.serviceAccountUid !== undefined;
    if (!hasId && selector.subject === undefined) {
      this.#report(
        path,
        'must select an immutable id: repositoryId, ownerId, serviceAccountUid or subject (names can be re-registered)',
      );
    } else if (!hasId && issuer !== undefined && SUBJECT_IS_NOT_AN_ID.has(issuer.type)) {
      this.#report(
        path,
        `${issuer.type} subjects are built from names: select repositoryId or ownerId instead`,
      );
    }
  }

  #checkTimestamp(path: string, value: string | undefined): number | undefined {
    if (value === undefined) return undefined;
    const time = Date.parse(value);
    if (Number.isNaN(time) || !isCalendarValid(value)) {
      this.#report(path, `${value} is not a real date and time`);
      return undefined;
    }
    return time;
  }

  /** An emergency group too small for `exceptions.required` could never approve an exception. */
  #checkEmergencyGroup(path: string, name: string | undefined): void {
    const members = this.#checkGroupRef(path, name, 'emergency');
    const required = this.#doc.exceptions?.required ?? DEFAULT_EXCEPTION_RULES.required;
    if (members !== undefined && required > members) {
      this.#report(
        path,
        `exceptions.required is ${String(required)} but group ${name ?? ''} has ${String(members)} member(s): no exception could ever be approved`,
      );
    }
  }

  checkExceptions(): void {
    const rules = this.#doc.exceptions;
    if (rules === undefined) return;
    const maxDuration = this.#checkDuration('exceptions.maxDuration', rules.maxDuration);
    if (maxDuration !== undefined && maxDuration > MAX_EXCEPTION_DURATION_SECONDS) {
      this.#report(
        'exceptions.maxDuration',
        `${rules.maxDuration ?? ''} is longer than 30d: an exception is for an emergency, not a policy`,
      );
    }
    const reviewWithin = this.#checkDuration('exceptions.reviewWithin', rules.reviewWithin);
    if (reviewWithin !== undefined && reviewWithin > MAX_REVIEW_WITHIN_SECONDS) {
      this.#report('exceptions.reviewWithin', `${rules.reviewWithin ?? ''} is longer than 90d`);
    }
  }

  #checkDuration(path: string, value: string | undefined): number | undefined {
    if (value === undefined) return undefined;
    const seconds = tryParseDuration(value);
    if (seconds === undefined)
      this.#report(path, `${value} is not a duration such as 8h, 2d or 1h30m`);
    return seconds;
  }

  checkPolicies(): void {
    const names = new Set<string>();
    (this.#doc.policies?.inline ?? []).forEach((policy, index) => {
      if (policy?.name === undefined) return;
      if (names.has(policy.name))
        this.#report(
          `policies.inline[${String(index)}].name`,
          `inline policy ${policy.name} is defined twice`,
        );
      names.add(policy.name);
    });
  }
}

/** `Date.parse` rolls 2026-02-30 over to March; compare the date part back. */
function isCalendarValid(value: string): boolean {
  const [datePart] = value.split('T');
  const [year, month, day] = (datePart ?? '').split('-').map(Number);
  if (year === undefined || month === undefined || day === undefined) return false;
  const probe = new Date(Date.UTC(year, month - 1, day));
  return (
    probe.getUTCFullYear() === year &&
    probe.getUTCMonth() === month - 1 &&
    probe.getUTCDate() === day
  );
}

function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Converts a fully validated document into the model. */
function buildGovernance(
  doc: GovernanceFileDocument,
  issuers: readonly IssuerConfig[],
  read: YamlDocumentResult,
): Governance {
  const issuerUrl = new Map(issuers.map((i) => [i.name, i.issuer]));
  const products: Product[] = [];
  const channels: Channel[] = [];
  for (const product of doc.products ?? []) {
    products.push({
      name: product.name,
      owner: product.owner,
      description: product.description ?? '',
      protectedRefs: product.protectedRefs ?? [],
    });
    for (const channel of product.channels) {
      channels.push({
        product: product.name,
        name: channel.name,
        signingMode: channel.signingMode ?? 'ephemeral',
        approval: {
          required: channel.approval?.required ?? 0,
          ...(channel.approval?.group === undefined ? {} : { group: channel.approval.group }),
          ...(channel.approval?.secondGroup === undefined
            ? {}
            : { secondGroup: channel.approval.secondGroup }),
          lifetimeSeconds:
            tryParseDuration(channel.approval?.lifetime ?? '') ?? DEFAULT_APPROVAL_LIFETIME_SECONDS,
          minCredentialAgeSeconds: tryParseDuration(channel.approval?.minCredentialAge ?? '') ?? 0,
        },
        ...(channel.emergencyGroup === undefined ? {} : { emergencyGroup: channel.emergencyGroup }),
        changeWindows: (channel.changeWindows ?? []).map((w): ChangeWindow =>
          w.schedule !== undefined
            ? { schedule: w.schedule, timeZone: w.timeZone ?? 'UTC' }
            : {
                days: w.days ?? [],
                start: w.start ?? '',
                end: w.end ?? '',
                timeZone: w.timeZone ?? 'UTC',
              },
        ),
        requiredEvidence: channel.requiredEvidence ?? [],
      });
    }
  }
  const entitlements = (doc.entitlements ?? []).map((e): Entitlement => ({
    id: e.id,
    selector: { ...e.selector, issuerUrl: issuerUrl.get(e.selector.issuer) ?? '' },
    grants: { product: e.grants.product, channels: e.grants.channels },
    owner: e.owner,
    justification: e.justification,
    expiresAt: new Date(e.expiresAt),
    reviewAt: new Date(e.reviewAt),
  }));
  const users = (doc.users ?? []).map((u): User => ({ id: u.id, email: u.email, roles: u.roles }));
  const groups = (doc.groups ?? []).map((g): Group => ({
    name: g.name,
    purpose: g.purpose,
    members: g.members,
    description: g.description ?? '',
  }));
  const inline = (doc.policies?.inline ?? []).map((p, index): InlinePolicy => ({
    name: p.name,
    cedar: p.cedar,
    line: read.contentLineOf(`policies.inline[${String(index)}].cedar`) ?? 1,
  }));
  return deepFreeze({
    issuers,
    products,
    channels,
    entitlements,
    users,
    groups,
    policies: {
      defaults: doc.policies?.defaults ?? true,
      files: doc.policies?.files ?? [],
      inline,
    },
    exceptions: buildExceptionRules(doc.exceptions),
  });
}

function buildExceptionRules(rules: GovernanceFileDocument['exceptions']): ExceptionRules {
  const defaults = DEFAULT_EXCEPTION_RULES;
  return {
    required: rules?.required ?? defaults.required,
    maxDurationSeconds: tryParseDuration(rules?.maxDuration ?? '') ?? defaults.maxDurationSeconds,
    maxUses: rules?.maxUses ?? defaults.maxUses,
    reviewWithinSeconds:
      tryParseDuration(rules?.reviewWithin ?? '') ?? defaults.reviewWithinSeconds,
    blockWhenReviewOverdue: rules?.blockWhenReviewOverdue ?? defaults.blockWhenReviewOverdue,
  };
}

function collectWarnings(
  governance: Governance,
  now: Date,
  read: YamlDocumentResult,
  warnings: FieldError[],
): void {
  governance.entitlements.forEach((entitlement, index) => {
    const path = `entitlements[${String(index)}]`;
    if (entitlement.expiresAt.getTime() <= now.getTime()) {
      warnings.push({
        path: `${path}.expiresAt`,
        message: `entitlement ${entitlement.id} expired at ${entitlement.expiresAt.toISOString()} and grants nothing: renew or remove it`,
        source: read.sourceOf(`${path}.expiresAt`),
      });
    } else if (entitlement.reviewAt.getTime() <= now.getTime()) {
      warnings.push({
        path: `${path}.reviewAt`,
        message: `entitlement ${entitlement.id} was due for review at ${entitlement.reviewAt.toISOString()}`,
        source: read.sourceOf(`${path}.reviewAt`),
      });
    }
  });
}

function deepFreeze<T>(value: T): T {
  if (
    typeof value === 'object' &&
    value !== null &&
    !(value instanceof Date) &&
    !Object.isFrozen(value)
  ) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
