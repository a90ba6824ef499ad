/**
 * A local HTTP server in the Hugging Face Hub's URL layout (test/hf/hub.test.ts describes it),
 * shared by the hub-download tests and the API's baseModel test.
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';

export const LFS = new Set(['model.safetensors', 'model-00001-of-00001.safetensors']);

export interface Served {
  /** file name → bytes, per repository (`org/name`). */
  repos: Map<string, Map<string, Buffer>>;
  /** Repositories whose LFS etag is deliberately wrong. */
  badSha: Set<string>;
  /** Repositories whose small files' etag (git blob sha1) is deliberately wrong. */
  badGitSha?: Set<string>;
  /** Cut the next CDN transfer of this many bytes' worth (once). */
  cutNextCdnTransfer: boolean;
  log: { method: string; url: string; range?: string; status: number }[];
}

export const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
export const gitSha1 = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

export function startHub(served: Served): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    handle(req, res);
  });
  const handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (status: number, headers: Record<string, string | number> = {}, body?: Buffer) => {
      served.log.push({ method: req.method ?? '', url: url.pathname, range: req.headers.range, status });
      res.writeHead(status, headers);
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const cdn = /^\/cdn\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (cdn) {
      const [, repoKey, file] = cdn;
      const body = served.repos.get(decodeURIComponent(repoKey))?.get(file);
      if (!body) return send(404);
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const start = range ? Number(range[1]) : 0;
      const slice = body.subarray(start);
      const status = range ? 206 : 200;
      const headers = { 'content-length': slice.length, 'accept-ranges': 'bytes', ...(range ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}) };
      if (served.cutNextCdnTransfer && req.method === 'GET') {
        served.cutNextCdnTransfer = false;
        served.log.push({ method: 'GET', url: url.pathname, range: req.headers.range, status: -status });
        res.writeHead(status, headers);
        // Half the body, flushed, then the connection dies.
        res.write(slice.subarray(0, Math.floor(slice.length / 2)), () => setTimeout(() => res.socket?.destroy(), 20));
        return;
      }
      return send(status, headers, slice);
    }
    const m = /^\/(.+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (!m) return send(404);
    const [, repo, , file] = m;
    const files = served.repos.get(repo);
    const body = files?.get(file);
    if (!body) return send(404, { 'x-error-code': files ? 'EntryNotFound' : 'RepositoryNotFound' });
    if (LFS.has(file)) {
      const etag = served.badSha.has(repo) ? sha256('not the weights') : sha256(body);
      return send(302, {
        location: `/cdn/${encodeURIComponent(repo)}/${file}`,
        'x-linked-etag': `"${etag}"`,
        'x-linked-size': body.length,
        etag: `"${gitSha1(Buffer.from('lfs pointer'))}"`,
        'x-repo-commit': '0123456789abcdef0123456789abcdef01234567',
      });
    }
    const etag = served.badGitSha?.has(repo) ? gitSha1(Buffer.from('something else')) : gitSha1(body);
    return send(200, { etag: `"${etag}"`, 'content-length': body.length }, body);
  };
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

