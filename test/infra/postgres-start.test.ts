/**
 * scripts/services/postgres.ts on paths a fresh clone has: the data directory's parents do not exist yet.
 * As root the server runs as `postgres`, so every parent it creates must stay enterable by that user
 * (the first `npm run demo` on a fresh clone failed when `data/` was created 0700 along with the cluster).
 * Also: the predictable shared temp folder is refused when someone else could have planted it.
 */
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { knex } from '@mikro-orm/postgresql';
import { removeLocalPostgres, startLocalPostgres, trustedTempParent } from '../../scripts/services/postgres';

jest.setTimeout(120_000);

/** A free port chosen by the kernel. */
async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('local Postgres start', () => {
  it('starts on a data directory whose parents do not exist yet, leaving them enterable', async () => {
    // A world-enterable base, like a checkout under /work or /home: the parents below it are new.
    const base = mkdtempSync(path.join(os.tmpdir(), 'rlhf-pg-fresh-'));
    chmodSync(base, 0o755);
    const dataDir = path.join(base, 'clone', 'data', 'postgres');
    try {
      const url = await startLocalPostgres({ dataDir, port: await freePort(), ephemeral: true });
      const db = knex({ client: 'pg', connection: url, pool: { min: 0, max: 1 } });
      try {
        const result = (await db.raw('select 1 as one')) as { rows: Array<{ one: number }> };
        expect(result.rows).toEqual([{ one: 1 }]);
      } finally {
        await db.destroy();
      }
      // The parents we created keep the default mode; only the cluster itself is private.
      expect(statSync(path.join(base, 'clone', 'data')).mode & 0o001).toBe(0o001);
      expect(statSync(dataDir).mode & 0o077).toBe(0);
    } finally {
      await removeLocalPostgres({ dataDir });
      rmSync(base, { recursive: true, force: true });
    }
  });
});

describe('trustedTempParent', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'rlhf-pg-trust-'));
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  it('creates the folder 0755 and accepts it on the next call', () => {
    const dir = trustedTempParent(tmp);
    expect(statSync(dir).mode & 0o777).toBe(0o755);
    expect(trustedTempParent(tmp)).toBe(dir);
  });

  it('refuses a symlink planted in its place', () => {
    const elsewhere = path.join(tmp, 'elsewhere');
    mkdirSync(elsewhere);
    symlinkSync(elsewhere, path.join(tmp, 'durable-rlhf-postgres'));
    expect(() => trustedTempParent(tmp)).toThrow(/symlink/);
  });

  it('refuses a folder owned by another user', () => {
    if (process.getuid?.() !== 0) return; // only root can make a folder owned by someone else
    const dir = path.join(tmp, 'durable-rlhf-postgres');
    mkdirSync(dir);
    chownSync(dir, 65534, 65534); // nobody
    expect(() => trustedTempParent(tmp)).toThrow(/owned by uid 65534/);
  });
});
