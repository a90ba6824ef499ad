/**
 * Secrets come only from the environment: the env schema gives no default to any
 * credential-like variable, and no source file under the app's directories holds an API
 * key, a credentialed connection string or a private key.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { EnvSchema, loadEnv } from '../../common/env';

const ROOT = path.resolve(__dirname, '../..');
/** Directories of code that runs in production or is shipped as a tool. */
const SOURCE_DIRS = ['api', 'db', 'common', 'activities', 'workflows', 'worker', 'storage', 'ml', 'scripts', 'temporal'];

const CREDENTIAL_NAME_RE = /DATABASE_URL|PASSWORD|SECRET|TOKEN|API_KEY|_KEY$|_CERT$|CREDENTIAL/;

describe('environment', () => {
  it('no credential-like variable has a default', () => {
    const credentialLike = Object.entries(EnvSchema.properties).filter(([name]) => CREDENTIAL_NAME_RE.test(name));
    expect(credentialLike.map(([name]) => name)).toEqual(expect.arrayContaining(['DATABASE_URL', 'TEMPORAL_TLS_CERT', 'TEMPORAL_TLS_KEY']));
    for (const [name, schema] of credentialLike) expect({ name, default: (schema as { default?: unknown }).default }).toEqual({ name, default: undefined });
    const env = loadEnv({});
    for (const [name] of credentialLike) expect({ name, value: (env as Record<string, unknown>)[name] }).toEqual({ name, value: undefined });
  });
});

describe('sources', () => {
  const files = execFileSync('git', ['ls-files', '--', ...SOURCE_DIRS], { cwd: ROOT, encoding: 'utf8' })
    .split('\n')
    .filter((f) => /\.(ts|js|mjs|cjs|sh|json|ya?ml|py)$/.test(f));

  const patterns: [string, RegExp][] = [
    ['an API key', /rlhf_[0-9a-f]{16}_[A-Za-z0-9_-]{43}/],
    // postgres://user:password@ with a literal password (template placeholders are fine).
    ['a credentialed connection string', /postgres(?:ql)?:\/\/[^:\s/'"`$]+:(?!\$\{)[^@\s'"`$]{3,}@/],
    ['a private key', /-----BEGIN (?:RSA |EC |OPENSSH )?PRIVATE KEY-----/],
    ['a bearer token', /Bearer [A-Za-z0-9_-]{24,}/],
  ];

  it(`hold no key, password or private key (${SOURCE_DIRS.join(', ')})`, () => {
    expect(files.length).toBeGreaterThan(50);
    const hits: string[] = [];
    for (const file of files) {
      const text = readFileSync(path.join(ROOT, file), 'utf8');
      for (const [what, re] of patterns) if (re.test(text)) hits.push(`${file}: ${what}`);
    }
    expect(hits).toEqual([]);
  });

  it('the patterns do catch what they are for', () => {
    const samples = ['rlhf_0123456789abcdef_' + 'A'.repeat(43), 'postgres://app:hunter22@db:5432/x', '-----BEGIN PRIVATE KEY-----', 'Bearer abcdefghijklmnopqrstuvwxyz'];
    samples.forEach((sample, i) => expect(patterns[i][1].test(sample)).toBe(true));
    expect(patterns[1][1].test('postgres://${user}:${password}@127.0.0.1')).toBe(false);
  });
});
