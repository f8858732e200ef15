/**
 * Resolution of global settings: each level (provider defaults, then customer) may say yes, no or inherit;
 * the most specific explicit value wins, and the built-in defaults end the chain.
 */
import type { DeleteThreshold, GlobalSettings, LeaverSettings, SyncEntityType, SyncFilter, TriState } from './schemas';
import { SYNC_ENTITY_TYPES } from './schemas';

export interface EffectiveGlobalSettings {
  moveAndFlowThrough: boolean;
  /** Move and provision users that an add sync brings in (needs moveAndFlowThrough). */
  addSync: boolean;
  /** Move users between sites when an update sync sees their attributes change (needs moveAndFlowThrough). */
  updateSync: boolean;
  addSyncCriteriaId?: string;
  updateSyncCriteriaId?: string;
  preventDuplicateNumbers: boolean;
  /** Disabled accounts and guests flow through like members (off: they stay at customer level, with the reason). */
  flowThroughDisabledAndGuests: boolean;
  numberCoolingDays: number;
  deleteThresholds: Record<SyncEntityType, DeleteThreshold>;
  /** What becomes of leavers; built in: they are kept where they are, flagged. */
  leavers: LeaverSettings;
  /** Which users the syncs take in; absent: everyone. */
  syncFilter?: SyncFilter;
}

/** Built-in defaults: nothing moves or provisions until switched on; deletes are held beyond small churn. */
export const DEFAULT_GLOBAL_SETTINGS: EffectiveGlobalSettings = {
  moveAndFlowThrough: false,
  addSync: false,
  updateSync: false,
  preventDuplicateNumbers: false,
  flowThroughDisabledAndGuests: false,
  numberCoolingDays: 30,
  deleteThresholds: {
    users: { maxCount: 50, maxShare: 0.1 },
    licenses: { maxCount: 10, maxShare: 0.25 },
    policies: { maxCount: 10, maxShare: 0.25 },
    dialPlans: { maxCount: 10, maxShare: 0.25 },
    resourceAccounts: { maxCount: 10, maxShare: 0.25 },
  },
  leavers: { action: 'keep' },
};

/**
 * @param levels from the least specific (provider) to the most specific (customer); missing levels are skipped.
 * The sync toggles are gated: add and update sync are effective only when move and flow-through is on.
 */
export function resolveGlobalSettings(
  levels: ReadonlyArray<Partial<GlobalSettings> | undefined>,
  defaults: EffectiveGlobalSettings = DEFAULT_GLOBAL_SETTINGS,
): EffectiveGlobalSettings {
  const r: EffectiveGlobalSettings = { ...defaults, deleteThresholds: { ...defaults.deleteThresholds } };
  for (const level of levels) {
    if (!level) continue;
    r.moveAndFlowThrough = tri(level.moveAndFlowThrough, r.moveAndFlowThrough);
    r.addSync = tri(level.addSync, r.addSync);
    r.updateSync = tri(level.updateSync, r.updateSync);
    r.preventDuplicateNumbers = tri(level.preventDuplicateNumbers, r.preventDuplicateNumbers);
    r.flowThroughDisabledAndGuests = tri(level.flowThroughDisabledAndGuests, r.flowThroughDisabledAndGuests);
    if (level.addSyncCriteriaId !== undefined) r.addSyncCriteriaId = level.addSyncCriteriaId;
    if (level.updateSyncCriteriaId !== undefined) r.updateSyncCriteriaId = level.updateSyncCriteriaId;
    if (level.numberCoolingDays !== undefined) r.numberCoolingDays = level.numberCoolingDays;
    if (level.leavers !== undefined) r.leavers = level.leavers;
    if (level.syncFilter !== undefined) r.syncFilter = level.syncFilter;
    for (const type of SYNC_ENTITY_TYPES) {
      const t = level.deleteThresholds?.[type];
      if (t) r.deleteThresholds[type] = t;
    }
  }
  if (!r.moveAndFlowThrough) {
    r.addSync = false;
    r.updateSync = false;
  }
  return r;
}

function tri(value: TriState | undefined, inherited: boolean): boolean {
  return value === 'yes' ? true : value === 'no' ? false : inherited;
}
