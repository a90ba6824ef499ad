/** A client of the serving process (serve/): `generate` with the API key, retrying when unreachable, 429 and 503 (a call that got no answer recorded nothing, so a retry is safe). */
import type { Static } from 'typebox';
import type { GenerateAnswer, GenerateBodyType } from '../serve/schemas';
import { ApiError } from './errors';

export type Generated = Static<typeof GenerateAnswer>;

export class ServeClient {
  constructor(private readonly config: { baseUrl: string; apiKey: string; maxAttempts?: number }) {}

  async generate(agentId: string, body: GenerateBodyType): Promise<Generated> {
    const attempts = this.config.maxAttempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        res = await fetch(`${this.config.baseUrl}/v1/agents/${encodeURIComponent(agentId)}/generate`, {
          method: 'POST',
          headers: { authorization: `Bearer ${this.config.apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      } catch (err) {
        if (attempt >= attempts) throw new ApiError(`cannot reach the serving process at ${this.config.baseUrl}: ${String(err)}`, 0, 'unreachable', null);
        await new Promise((r) => setTimeout(r, 500 * attempt));
        continue;
      }
      const answer = (await res.json().catch(() => null)) as (Generated & { error?: string; message?: string; field?: string }) | null;
      if ((res.status === 429 || res.status === 503) && attempt < attempts) {
        await new Promise((r) => setTimeout(r, 500 * attempt));
        continue;
      }
      if (res.status !== 200 || !answer) {
        throw new ApiError(`generate for ${agentId} answered ${res.status}: ${answer?.message ?? 'no body'}`, res.status, answer?.error ?? null, answer?.field ?? null);
      }
      return answer;
    }
  }
}
