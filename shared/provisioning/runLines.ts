/**
 * The user's line in one provisioning pass: a number kept and recorded when the user holds one in Teams, or
 * taken from the inventory and assigned; reserved while the user is staged; let go when the user leaves its
 * site. A number Microsoft gives to someone else is recorded as theirs, never taken from them.
 */
import {
  canAssignTo,
  CUSTOMER_INVENTORY,
  inventoryName,
  numberStepAction,
  reconcileEntry,
  reserveForUser,
  type LineRequirement,
  type MicrosoftUserState,
  type NumberEntry,
  type NumberType,
  type SiteDefaults,
  type WantedLine,
} from '../domain';
import { MicrosoftError, OperationFailedError, type NumberAssignment } from '../ports/microsoft';
import { ConflictError, DuplicateNumberError, NotFoundError, type NumberScope, type PendingNumberAssignment } from '../ports/storage';
import { fromMicrosoftNumberType, toMicrosoftNumberType } from './microsoftState';
import { FIRST_CHECK_MS } from './numberChecks';
import { recordHeldByOther } from './numberInventory';
import { DEFAULT_LINE_TYPE, isTransient, RunBase } from './runBase';
import { assignedNumbers } from './tenantNumbers';

/** Numbers tried for one user in one pass before the step gives up (each found held in Microsoft by someone else). */
const MAX_NUMBER_TRIES = 5;

/** The step's words for a number left with the user Microsoft assigns it to. */
function leftWith(number: string, holder: string): string {
  return `${number} left assigned in Microsoft to user ${holder}, whose number it is there (a duplicate: both held it)`;
}

/** What the release step says: where the number went, or whose it stays. */
function releaseDetail(
  number: string,
  r: { heldInTeams: boolean; keptBy?: string; found?: { scope: NumberScope }; other?: { scope: NumberScope; entry: NumberEntry } },
): string {
  const inventory = (scope: NumberScope) => describeInventory(inventoryName(scope));
  if (r.keptBy) return `${leftWith(number, r.keptBy)}${r.found ? `; recorded as theirs in the inventory of ${inventory(r.found.scope)}` : ''}`;
  const unassigned = r.heldInTeams ? ' unassigned in Microsoft and' : '';
  if (r.found) return `${number}${unassigned} released to cooling at ${inventory(r.found.scope)}`;
  if (r.other) return `${number}${unassigned} let go: it stays in use by user ${r.other.entry.userId} in the inventory of ${inventory(r.other.scope)} (a duplicate: both held it)`;
  return `${number}${unassigned} released (in no inventory)`;
}

function describeInventory(name: string): string {
  return name === CUSTOMER_INVENTORY ? 'the customer' : `site ${name}`;
}

function scopeOf(entry: Pick<NumberEntry, 'customerId' | 'siteId'>): NumberScope {
  return { customerId: entry.customerId, ...(entry.siteId !== undefined ? { siteId: entry.siteId } : {}) };
}

export abstract class RunLines extends RunBase {
  /** Set when the line waits for a license granted in this pass to reach Teams: the staging re-check assigns it. */
  protected awaitingLine?: WantedLine;
  /** The number assignment Teams is finishing on its own: the user waits in `provisioning` until checked. */
  protected pendingNumber?: PendingNumberAssignment;
  /** Licenses granted in this pass are taken to have brought the user into Teams (not read). */
  protected teamsAssumed = false;
  /** The line the number step is giving. */
  private lineInFlight?: WantedLine;
  protected siteId?: string;
  protected profileId?: string;
  /** The user holds a number in Teams at the end of the pass. */
  protected holdsNumber = false;
  /** Why the line the user needs was not given. */
  protected lineFailure?: string;
  protected siteDefaults?: SiteDefaults;

  private failLine(reason: string): void {
    this.step('number', 'failed', reason);
    this.lineFailure ??= reason;
  }

  /** The number: keep and record the one held in Teams, or take one from the inventory and assign it. */
  protected async numberStep(siteId: string, state: MicrosoftUserState, line: LineRequirement, features: string[], licensedNow: boolean): Promise<void> {
    const action = numberStepAction({ line, held: state.number?.number, features, licensedNow });
    switch (action.kind) {
      case 'none':
        return;
      case 'keep-held':
        this.holdsNumber = true;
        await this.recordHeldNumber(siteId, action.number, this.user.userId);
        return;
      case 'cannot-assign':
        this.failLine(action.reason);
        return;
      case 'await-license':
        // Microsoft takes a while to carry a new license into Teams; the staging re-check assigns the number.
        this.awaitingLine = action.line;
        this.step('number', 'skipped', action.reason);
        await this.holdForStaging(siteId, action.line);
        return;
      case 'assign':
        this.lineInFlight = action.line;
        if (action.line.kind === 'explicit') await this.assignExplicit(siteId, action.line.number, action.line.type, state.number?.number);
        else await this.assignNextAvailable(siteId, action.line.type);
        return;
    }
  }

  private get preventDuplicates(): boolean {
    return this.ctx.settings.preventDuplicateNumbers;
  }

  /** The next available number, assigned in Teams; one that turns out held by someone else is recorded as theirs and the next is taken. */
  private async assignNextAvailable(siteId: string, type: NumberType): Promise<void> {
    const skip: string[] = [];
    for (let tries = 0; tries < MAX_NUMBER_TRIES; tries++) {
      const allocation = await this.deps.storage.numbers.allocateNext({
        customerId: this.ctx.customer.id, siteId, userId: this.user.userId, lineType: type, now: this.now, refuseDuplicates: this.preventDuplicates, skip,
      });
      if (!allocation.ok) return this.failLine(allocation.message);
      const entry = allocation.entry.value;
      const outcome = await this.assignInTeams(scopeOf(entry), entry.number, type);
      if (outcome === 'started') return;
      if (outcome.kind === 'failed') return this.failLine(outcome.reason);
      skip.push(entry.number);
    }
    this.failLine(`${MAX_NUMBER_TRIES} numbers in a row turned out held in Microsoft by other users; the next full sync brings the inventory up to date`);
  }

  /** The operator's (or the Quick Add Group's) number, taken in the inventory and assigned in Teams. */
  private async assignExplicit(siteId: string, number: string, type: NumberType, replaced: string | undefined): Promise<void> {
    const numbers = this.deps.storage.numbers;
    const customerId = this.ctx.customer.id;
    let scope: NumberScope = { customerId, siteId };
    try {
      try {
        await numbers.assign(scope, number, this.user.userId, this.now, { refuseDuplicates: this.preventDuplicates });
      } catch (error) {
        if (!(error instanceof NotFoundError)) throw error;
        scope = { customerId };
        await numbers.assign(scope, number, this.user.userId, this.now, { refuseDuplicates: this.preventDuplicates });
      }
    } catch (error) {
      if (error instanceof ConflictError || error instanceof NotFoundError) return this.failLine(error.message);
      throw error;
    }
    // Teams gives up the user's old primary number for this one: the inventory lets it cool once it has.
    const outcome = await this.assignInTeams(scope, number, type, replaced);
    if (outcome !== 'started') return this.failLine(outcome.kind === 'failed' ? outcome.reason : `${number} is held in Microsoft by ${outcome.holder}`);
  }

  /**
   * Assigns a number the inventory gave the user. With prevent duplicate numbers on, Microsoft is asked first
   * whether someone holds it; a refusal is checked the same way. A number held by someone else is recorded
   * as theirs; any other refusal gives the number back at once (the user never held it).
   */
  private async assignInTeams(scope: NumberScope, number: string, type: NumberType, replaces?: string): Promise<'started' | { kind: 'held'; holder: string } | { kind: 'failed'; reason: string }> {
    const userId = this.user.userId;
    const customerId = this.ctx.customer.id;
    const microsoftType = toMicrosoftNumberType(type)!;
    const recordHolder = async (holder: string, how: string): Promise<{ kind: 'held'; holder: string }> => {
      await recordHeldByOther(this.deps.storage, scope, number, userId, holder, this.now);
      this.step('number', 'skipped', `${number} ${how} held in Microsoft by ${holder}: recorded as theirs`);
      return { kind: 'held', holder };
    };
    // A pass delivered again after its assignment went out: that assignment is the one to wait for.
    const already = await this.deps.storage.pendingNumbers.get(customerId, userId);
    if (already) {
      this.pendingNumber = already.value;
      this.number = already.value.number;
      this.holdsNumber = true;
      return 'started';
    }
    if (this.preventDuplicates) {
      const holder = await this.assignedToAnother(number);
      if (holder) return recordHolder(holder, 'is');
    }
    // The intent is stored before the request goes out: a crash in between leaves a record whose number
    // tells, once due, whether the request ever reached Microsoft.
    const pending: PendingNumberAssignment = {
      customerId, userId, number, lineType: type, siteId: this.siteId!, transactionId: this.transactionId,
      startedAt: this.now.toISOString(), dueAt: new Date(this.now.getTime() + FIRST_CHECK_MS).toISOString(), sends: 1, checks: 0, skip: [],
      cause: { ...this.message },
      ...(scope.siteId !== undefined ? { inventorySiteId: scope.siteId } : {}),
      ...(replaces && replaces !== number ? { replaces } : {}),
      ...(this.teamsAssumed && this.lineInFlight && this.profileId ? { stageIfRefused: { profileId: this.profileId, line: this.lineInFlight } } : {}),
    };
    await this.deps.storage.pendingNumbers.upsert(pending);
    let operation;
    try {
      operation = await this.ms.tenant.startAssignNumber({ userId, number, numberType: microsoftType, assignmentCategory: 'primary' });
    } catch (error) {
      await this.deps.storage.pendingNumbers.delete(customerId, userId);
      if (isTransient(error)) throw error; // the inventory keeps it for this user: the retry gets it back
      if (!(error instanceof MicrosoftError)) throw error;
      const holder = await this.assignedToAnother(number);
      if (holder) return recordHolder(holder, 'turned out');
      // Never held by the user: back to available at once, not through cooling.
      await this.deps.storage.numbers.release(scope, number, userId, this.now, 0);
      return { kind: 'failed', reason: `${number}: ${error instanceof OperationFailedError ? error.reason : error.message}` };
    }
    this.pendingNumber = { ...pending, ...(operation.location ? { location: operation.location } : {}) };
    this.number = number;
    this.holdsNumber = true;
    this.step('number-request', 'ok', `${number} sent to Teams, which finishes the assignment on its own`);
    return 'started';
  }

  /** A staged user's explicit number is reserved for it until Teams knows the user. */
  protected async holdForStaging(siteId: string, line: WantedLine): Promise<void> {
    if (line.kind !== 'explicit') return;
    const customerId = this.ctx.customer.id;
    const reason = 'reserved for a staged user until Teams knows it';
    for (const scope of [{ customerId, siteId }, { customerId }]) {
      try {
        await this.deps.storage.numbers.update(scope, line.number, (e) => {
          if ((e.status === 'Reserved' || e.status === 'Used') && e.userId === this.user.userId) return undefined;
          if (!canAssignTo(e, this.user.userId, this.now, { refuseDuplicates: this.preventDuplicates })) throw new ConflictError(`number ${line.number} is ${e.status} and cannot be kept for the user`);
          return reserveForUser(e, this.user.userId, reason, this.now);
        });
        this.number = line.number;
        return;
      } catch (error) {
        if (error instanceof NotFoundError) continue;
        if (error instanceof ConflictError) return this.failLine(error.message);
        throw error;
      }
    }
    this.failLine(`${line.number} is not in the inventory of site ${siteId} or its customer`);
  }

  /**
   * A number the user holds in Teams enters the inventory as Used by the user: in whichever inventory the
   * site sees that has it (the site's or the customer's), so a user's own number is never its own duplicate.
   * One no visible inventory has is recorded outside any range, at the site (or at the customer, when the
   * site defaults say "Create Internal Number Inventory at Customer"). Held elsewhere too — in another site's
   * inventory, or by another user — it is a duplicate: flagged with prevent duplicate numbers off, the step
   * failing with it on (the user keeps its number and is still provisioned).
   */
  protected async recordHeldNumber(siteId: string, number: string, userId: string): Promise<void> {
    const numbers = this.deps.storage.numbers;
    const customerId = this.ctx.customer.id;
    const prevent = this.preventDuplicates;
    const visible: NumberScope[] = [{ customerId, siteId }, { customerId }];
    let found: { scope: NumberScope; entry: NumberEntry } | undefined;
    for (const scope of visible) {
      const entry = await numbers.get(scope, number);
      if (entry) {
        found = { scope, entry: entry.value };
        break;
      }
    }
    if (found?.entry.status === 'Used' && found.entry.userId === userId) {
      this.number = number;
      this.step('number', 'skipped', `${number} already recorded`);
      return;
    }
    if (found && found.entry.status === 'Used' && found.entry.userId !== undefined) {
      // Microsoft shows this user holding a number the inventory records for another: both hold it, and the
      // user's record says so whichever of the two was provisioned first.
      const other = found.entry.userId;
      this.number = number;
      await numbers.update(found.scope, number, (e) => {
        const heldBy = [...new Set([...(e.heldBy ?? []), ...(e.userId ? [e.userId] : []), userId])].sort();
        return heldBy.length === (e.heldBy ?? []).length ? undefined : { ...e, heldBy, duplicate: true };
      });
      if (prevent) this.step('number', 'failed', `${number} is held by user ${other} too: a duplicate (prevent duplicate numbers is on)`);
      else this.step('number', 'ok', `${number} recorded in use; duplicate: also held by user ${other}`);
      return;
    }
    if (!found && prevent) {
      const elsewhere = await this.otherInventories({ customerId, siteId }, number);
      if (elsewhere.length > 0) {
        this.step('number', 'failed', `${number} is already in the inventory of ${elsewhere.map(describeInventory).join(', ')} (prevent duplicate numbers is on)`);
        return;
      }
    }
    const atCustomer = this.siteDefaults?.createNumberInventoryAtCustomer === true;
    const scope = found?.scope ?? (atCustomer ? { customerId } : { customerId, siteId });
    // A number outside the inventory, or recorded by the sync outside any range, has a type only Microsoft
    // knows: from the tenant's listing (one request for up to 1,000 numbers, kept a few minutes), else asked.
    const unknownType = !found || found.entry.rangeId === undefined;
    const listed = unknownType ? (await assignedNumbers(this.ms.tenant, customerId, this.now.getTime())).get(number) : undefined;
    const assignment = unknownType ? (listed ?? (await this.ms.tenant.getNumberAssignment(number))) : undefined;
    const lineType = fromMicrosoftNumberType(assignment?.numberType) ?? found?.entry.lineType ?? DEFAULT_LINE_TYPE;
    try {
      await numbers.recordInUse(scope, { number, userId, vendor: found?.entry.vendor ?? 'Microsoft', lineType }, { preventDuplicateNumbers: prevent });
    } catch (error) {
      if (error instanceof DuplicateNumberError) {
        this.step('number', 'failed', `${number} is already in the inventory of ${error.heldBySiteId ? `site ${error.heldBySiteId}` : 'the customer'} (prevent duplicate numbers is on)`);
        return;
      }
      throw error;
    }
    this.number = number;
    // Looked for after writing: of two users recording the same number at two sites at once, at least one
    // sees the other's entry (with prevent duplicate numbers on, the customer-wide claim decided already).
    const elsewhere = await this.otherInventories(scope, number);
    if (elsewhere.length > 0) await this.flagAcrossInventories(number, [scope, ...elsewhere.map((name) => this.scopeNamed(name))]);
    const where = found ? '' : ` outside any range, in the inventory of ${scope.siteId ? `site ${scope.siteId}` : 'the customer'}`;
    this.step('number', 'ok', `${number} recorded in use${where}${elsewhere.length ? `; duplicate: also in the inventory of ${elsewhere.map(describeInventory).join(', ')}` : ''}`);
  }

  private scopeNamed(name: string): NumberScope {
    return name === CUSTOMER_INVENTORY ? { customerId: this.ctx.customer.id } : { customerId: this.ctx.customer.id, siteId: name };
  }

  /** Every inventory holding the number learns of the others: each entry is flagged duplicate. */
  private async flagAcrossInventories(number: string, scopes: NumberScope[]): Promise<void> {
    const names = scopes.map(inventoryName);
    for (const scope of scopes) {
      const others = names.filter((n) => n !== inventoryName(scope)).sort();
      await this.deps.storage.numbers.update(scope, number, (e) => (e.duplicate && JSON.stringify(e.alsoIn) === JSON.stringify(others) ? undefined : { ...e, alsoIn: others, duplicate: true })).catch((error: unknown) => {
        if (!(error instanceof NotFoundError)) throw error;
      });
    }
  }

  /** The inventories other than `scope` that hold the number: site ids, or `customer`. */
  private async otherInventories(scope: NumberScope, number: string): Promise<string[]> {
    const customerId = this.ctx.customer.id;
    const all: NumberScope[] = [{ customerId }, ...[...this.ctx.sites.keys()].map((s) => ({ customerId, siteId: s }))];
    const scopes = all.filter((s) => s.siteId !== scope.siteId);
    const found = await Promise.all(scopes.map(async (s) => ((await this.deps.storage.numbers.get(s, number)) ? inventoryName(s) : undefined)));
    return found.filter((f): f is string => f !== undefined);
  }

  /**
   * Unassigns a number in Microsoft (when the user holds it there) and cools it in whichever inventory has it
   * for the user. A duplicate — a number Microsoft assigns to another user, which this user's Teams
   * configuration or its inventory entry shows as its own — is never unassigned, which would take it from
   * that user: the entry becomes theirs (`keptBy` says whose). An entry recording the number as another
   * holder's stays theirs, without this user among its holders. Undefined when Microsoft refused the release.
   */
  protected async releaseNumber(siteId: string, number: string, heldInTeams: boolean): Promise<{ lineType?: NumberType; keptBy?: string } | undefined> {
    const numbers = this.deps.storage.numbers;
    const userId = this.user.userId;
    const scopes: NumberScope[] = [{ customerId: this.ctx.customer.id, siteId }, { customerId: this.ctx.customer.id }];
    const entries = (await Promise.all(scopes.map(async (scope) => ({ scope, entry: (await numbers.get(scope, number))?.value })))).filter(
      (e): e is { scope: NumberScope; entry: NumberEntry } => e.entry !== undefined,
    );
    const found = entries.find((e) => e.entry.userId === userId || e.entry.userId === undefined);
    let keptBy: string | undefined;
    // Asked whenever the user may hold it: its Teams configuration lists it, or its entry says it does (the
    // configuration may not have been read).
    if (heldInTeams || found?.entry.status === 'Used') {
      const assignment = await this.ms.tenant.getNumberAssignment(number);
      keptBy = this.anotherUser(assignment);
      // Unassigned under the type Microsoft gives the number: the inventory's may differ (a number the user
      // had before, a Calling Plan number, recorded in a Direct Routing range), and another type fails.
      const microsoftType = toMicrosoftNumberType(fromMicrosoftNumberType(assignment?.numberType) ?? found?.entry.lineType ?? DEFAULT_LINE_TYPE);
      try {
        if (heldInTeams && microsoftType && !keptBy) await this.ms.tenant.unassignNumber({ number, numberType: microsoftType, userId });
      } catch (error) {
        if (isTransient(error)) throw error;
        this.needsAttention('number-release', `${number}: ${error instanceof Error ? error.message : String(error)}`);
        return undefined;
      }
    }
    for (const { scope, entry } of entries) {
      if (entry === found?.entry) {
        if (keptBy) await numbers.update(scope, number, (e) => this.handedTo(e, keptBy!));
        else if (entry.status !== 'Cooling') await numbers.release(scope, number, userId, this.now, this.ctx.settings.numberCoolingDays);
      } else if (entry.heldBy?.includes(userId)) await numbers.update(scope, number, (e) => this.withHolders(e, (e.heldBy ?? []).filter((u) => u !== userId)));
    }
    this.step('number-release', 'ok', releaseDetail(number, { heldInTeams, keptBy, found, other: entries.find((e) => e !== found && e.entry.userId !== undefined) }));
    return { ...(found?.entry.lineType ? { lineType: found.entry.lineType } : {}), ...(keptBy ? { keptBy } : {}) };
  }

  /** The user other than this one Microsoft assigns the number to, if any. */
  private anotherUser(assignment: NumberAssignment | null): string | undefined {
    const target = assignment?.assignmentTargetId;
    return target && target !== this.user.userId ? target : undefined;
  }

  private async assignedToAnother(number: string): Promise<string | undefined> {
    return this.anotherUser(await this.ms.tenant.getNumberAssignment(number));
  }

  /** The entry once the number is left with `holder`, Microsoft's: theirs, any other holder stays one, this user does not. */
  private handedTo(entry: NumberEntry, holder: string): NumberEntry | undefined {
    return this.withHolders(entry, [holder, ...(entry.heldBy ?? []).filter((u) => u !== this.user.userId)], holder);
  }

  /** An entry brought in line with Microsoft once this user let its number go: `holders` still hold it. */
  private withHolders(entry: NumberEntry, holders: string[], assignee?: string): NumberEntry | undefined {
    const next = reconcileEntry(entry, holders, entry.alsoIn ?? [], { now: this.now, coolingDays: this.ctx.settings.numberCoolingDays, complete: false }, assignee);
    return next === entry ? undefined : next;
  }

  /**
   * Unassigns the old site's number in Teams and lets it cool in that site's inventory; a duplicate Microsoft
   * assigns to another user is left with them and recorded as theirs.
   */
  protected async releaseOldNumber(oldSiteId: string, number: string): Promise<boolean> {
    const numbers = this.deps.storage.numbers;
    const scope = { customerId: this.ctx.customer.id, siteId: oldSiteId };
    const entry = await numbers.get(scope, number);
    if (!entry || entry.value.userId !== this.user.userId) return false; // a customer-wide number stays with the user
    const microsoftType = toMicrosoftNumberType(entry.value.lineType);
    if (!microsoftType) return false;
    const keptBy = await this.assignedToAnother(number);
    if (keptBy) {
      // A duplicate Microsoft gives to another user: unassigning it would take it from them.
      await numbers.update(scope, number, (e) => this.handedTo(e, keptBy));
      this.number = undefined;
      this.step('number-release', 'ok', `${leftWith(number, keptBy)}; recorded as theirs at site ${oldSiteId}`);
      return true;
    }
    try {
      await this.ms.tenant.unassignNumber({ number, numberType: microsoftType, userId: this.user.userId });
    } catch (error) {
      if (isTransient(error)) throw error;
      this.step('number-release', 'failed', `${number}: ${error instanceof Error ? error.message : String(error)}`);
      return false;
    }
    await numbers.release(scope, number, this.user.userId, this.now, this.ctx.settings.numberCoolingDays);
    this.number = undefined;
    this.step('number-release', 'ok', `${number} released to cooling at site ${oldSiteId}`);
    return true;
  }

}
