/**
 * Loaded policy versions of the serving process: an LRU bounded by the bytes of their weights
 * (float32, 4 bytes a parameter). A policy is loaded from the artifact store
 * (`{agentId}/{version}/policy`, ml/policy-export) on first use; concurrent requests for one
 * version share one load. A policy in use by a generation is pinned (`acquire` … `release`) and
 * never disposed under it; when every cached policy is pinned the cache may exceed its budget
 * until one is released. A version whose directory is missing from the store is
 * PolicyUnavailableError (the route's 404), never a load error.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { loadPolicy, PolicyFiles, type LoadedPolicy } from '../ml/policy-export';
import { policyKey, type ArtifactStore } from '../storage/artifact-store';

export class PolicyUnavailableError extends Error {
  override readonly name = 'PolicyUnavailableError';
  constructor(
    readonly agentId: string,
    readonly version: string,
  ) {
    super(`policy version ${version} of agent ${agentId} is not in the artifact store`);
  }
}

interface Entry {
  key: string;
  policy: LoadedPolicy;
  bytes: number;
  pins: number;
}

export interface PolicyCacheStats {
  loaded: number;
  bytes: number;
  budgetBytes: number;
  loads: number;
  evictions: number;
}

const BYTES_PER_PARAMETER = 4;

export class PolicyCache {
  /** Insertion order is recency order: a hit is deleted and set again. */
  private readonly entries = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<Entry>>();
  private bytes = 0;
  private loads = 0;
  private evictions = 0;

  constructor(
    private readonly store: ArtifactStore,
    private readonly budgetBytes: number,
  ) {}

  /** The policy, loaded if need be and pinned until `release(handle)`. */
  async acquire(agentId: string, version: string): Promise<{ policy: LoadedPolicy; release: () => void }> {
    const key = `${agentId}/${version}`;
    let entry = this.entries.get(key);
    if (entry) {
      this.entries.delete(key);
      this.entries.set(key, entry);
    } else {
      let pending = this.loading.get(key);
      if (!pending) {
        pending = this.load(key, agentId, version).finally(() => this.loading.delete(key));
        this.loading.set(key, pending);
      }
      entry = await pending;
    }
    entry.pins++;
    let released = false;
    const pinned = entry;
    return {
      policy: entry.policy,
      release: () => {
        if (released) return;
        released = true;
        pinned.pins--;
        this.evictOverBudget();
      },
    };
  }

  stats(): PolicyCacheStats {
    return { loaded: this.entries.size, bytes: this.bytes, budgetBytes: this.budgetBytes, loads: this.loads, evictions: this.evictions };
  }

  /** Disposes every policy (pinned ones too: call at shutdown, after generations ended). */
  clear(): void {
    for (const e of this.entries.values()) e.policy.policy.dispose();
    this.entries.clear();
    this.bytes = 0;
  }

  private async load(key: string, agentId: string, version: string): Promise<Entry> {
    const dir = this.store.resolve(policyKey(agentId, version, 'policy'));
    try {
      await fs.stat(path.join(dir, PolicyFiles.config));
    } catch {
      throw new PolicyUnavailableError(agentId, version);
    }
    const policy = await loadPolicy(dir);
    const entry: Entry = { key, policy, bytes: policy.policy.parameterCount() * BYTES_PER_PARAMETER, pins: 0 };
    this.loads++;
    this.entries.set(key, entry);
    this.bytes += entry.bytes;
    this.evictOverBudget(entry);
    return entry;
  }

  /** Drops least recently used unpinned policies while over budget; `keep` (just loaded) last of all. */
  private evictOverBudget(keep?: Entry): void {
    for (const entry of [...this.entries.values()]) {
      if (this.bytes <= this.budgetBytes) return;
      if (entry.pins > 0 || entry === keep) continue;
      this.entries.delete(entry.key);
      this.bytes -= entry.bytes;
      this.evictions++;
      entry.policy.policy.dispose();
    }
  }
}
