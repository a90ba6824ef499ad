/** Stored outcomes of writes made under an Idempotency-Key (db/entities/idempotency-record.ts). */
import type { EntityManager } from '@mikro-orm/postgresql';
import { IdempotencyRecordSchema, type IdempotencyRecord } from '../entities';

export type NewIdempotencyRecord = Omit<IdempotencyRecord, 'createdAt'>;

export class IdempotencyRepository {
  constructor(private readonly em: EntityManager) {}

  /** The committed record for a project's key, read past the identity map (another request may have written it). */
  async find(projectId: string, key: string): Promise<IdempotencyRecord | null> {
    return this.em.findOne(IdempotencyRecordSchema, { projectId, key }, { disableIdentityMap: true });
  }

  /** Adds the record to the unit of work and flushes (inside the caller's transaction). */
  async insert(record: NewIdempotencyRecord): Promise<void> {
    this.em.create(IdempotencyRecordSchema, record);
    await this.em.flush();
  }

  /** Deletes the records created before `cutoff`; returns how many. */
  async deleteCreatedBefore(cutoff: Date): Promise<number> {
    return this.em.nativeDelete(IdempotencyRecordSchema, { createdAt: { $lt: cutoff } });
  }
}
