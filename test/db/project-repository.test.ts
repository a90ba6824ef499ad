/** Projects, API keys (hashed at rest, constant-time check, revocation) and agent ownership, on real Postgres. */
import { bearerToken, generateKeyMaterial, hashSecret, parseApiKey, secretMatches } from '../../db/api-key-format';
import { AgentRepository, ProjectRepository } from '../../db/repositories';
import { createTestDatabase, type TestDatabase } from '../helpers/database';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.dispose());

const projects = () => new ProjectRepository(db.orm.em.fork());

describe('key format', () => {
  it('is rlhf_<16 hex>_<43 base64url> and parses back to the hashed secret', () => {
    const { key, prefix, keyHash } = generateKeyMaterial();
    expect(key).toMatch(/^rlhf_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    const parsed = parseApiKey(key)!;
    expect(parsed.prefix).toBe(prefix);
    expect(parsed.secret).toHaveLength(32);
    expect(hashSecret(parsed.secret)).toBe(keyHash);
    expect(secretMatches(parsed.secret, keyHash)).toBe(true);
    expect(secretMatches(Buffer.alloc(32), keyHash)).toBe(false);
  });

  it('rejects anything not exactly key-shaped, including a non-canonical base64url tail', () => {
    const { key } = generateKeyMaterial();
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    // The 43rd character carries 4 secret bits and 2 zero bits; setting a zero bit decodes to the same 32 bytes.
    const alias = key.slice(0, -1) + alphabet[alphabet.indexOf(key.at(-1)!) + 1];
    expect(Buffer.from(alias.slice(-43), 'base64url')).toEqual(parseApiKey(key)!.secret);
    for (const bad of ['', key.toUpperCase(), `${key}=`, key.slice(0, -1), ` ${key}`, key.replace('rlhf_', 'rlhf-'), alias]) {
      expect({ bad, parsed: parseApiKey(bad) }).toEqual({ bad, parsed: null });
    }
  });

  it('reads the key from a Bearer header only', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer abc')).toBe('abc');
    for (const h of [undefined, '', 'Basic abc', 'Bearer', 'Bearer a b', ['Bearer abc']]) expect(bearerToken(h)).toBeNull();
  });
});

describe('ProjectRepository', () => {
  it('authenticates a new key, stores only its hash, and refuses it once revoked', async () => {
    const project = await projects().ensure('p-auth');
    const { key, row } = await projects().createKey(project.id, 'ci');
    expect(await projects().authenticate(key)).toEqual({ keyId: row.id, projectId: project.id });

    const secret = key.split('_').slice(2).join('_');
    const [stored] = await db.orm.em.fork().getConnection().execute<Record<string, unknown>[]>('select * from api_key where id = ?', [row.id]);
    expect(JSON.stringify(stored)).not.toContain(secret);
    expect(stored.key_hash).toMatch(/^[0-9a-f]{64}$/);

    const wrong = key.slice(0, -2) + (key.at(-2) === 'A' ? 'B' : 'A') + key.at(-1);
    expect(await projects().authenticate(wrong)).toBeNull();
    await projects().revokeKey(row.id);
    expect(await projects().authenticate(key)).toBeNull();
  });

  it('ensure is idempotent and safe when racing itself', async () => {
    const all = await Promise.all(Array.from({ length: 6 }, () => projects().ensure('p-race')));
    expect(new Set(all.map((p) => p.id)).size).toBe(1);
    expect(all[0].id).toMatch(/^proj_[A-Za-z0-9_-]{20}$/);
  });
});

describe('AgentRepository', () => {
  it('gives an agent to exactly one project when two claim it at once', async () => {
    const [a, b] = [await projects().ensure('p-claim-a'), await projects().ensure('p-claim-b')];
    for (let i = 0; i < 5; i++) {
      const agentId = `contested-${i}`;
      const results = await Promise.all([a, b, a, b].map((p) => new AgentRepository(db.orm.em.fork()).claim(agentId, p.id)));
      const owner = await new AgentRepository(db.orm.em.fork()).ownerOf(agentId);
      expect(owner === a.id || owner === b.id).toBe(true);
      expect(results).toEqual([a, b, a, b].map((p) => p.id === owner));
    }
    expect(await new AgentRepository(db.orm.em.fork()).ownerOf('never-claimed')).toBeNull();
  });
});
