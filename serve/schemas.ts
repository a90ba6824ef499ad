/** Request and response schemas of the serving process (issue 13). */
import { Type, type Static } from 'typebox';
import { MAX_TEXT_CHARS, SafeId, storableText } from '../api/schemas/common';
import { VersionLabel } from '../api/schemas/deployments';

/** Completions one request may ask for. */
export const MAX_COMPLETIONS = 8;
/** Longest completion one request may ask for (the policy's block size may bound it lower). */
export const MAX_NEW_TOKENS_LIMIT = 1024;

export const GenerateParams = Type.Object({ agentId: SafeId('Agent id') }, { additionalProperties: false });

export const GenerateBody = Type.Object(
  {
    prompt: Type.String({ minLength: 1, maxLength: MAX_TEXT_CHARS, ...storableText }),
    n: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_COMPLETIONS, description: 'Completions to sample (default 1)' })),
    maxNewTokens: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_NEW_TOKENS_LIMIT, description: 'Default: the length the policy was trained to write' })),
    temperature: Type.Optional(Type.Number({ minimum: 0, maximum: 2, description: '0 is greedy; default: the training temperature' })),
    topK: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'Keep the k most likely tokens (0 = off)' })),
    topP: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'Nucleus mass (1 = off)' })),
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1, description: 'Same seed, prompt, version and settings: same completions' })),
    version: Type.Optional(VersionLabel),
    subject: Type.Optional(
      Type.String({ minLength: 1, maxLength: 256, ...storableText, description: 'The end user or session; with a sticky deployment it always gets the same variant' }),
    ),
  },
  { additionalProperties: false },
);
export type GenerateBodyType = Static<typeof GenerateBody>;

export const Completion = Type.Object({
  text: Type.String(),
  /** Generated tokens, EOS not counted. */
  tokens: Type.Integer(),
  finishReason: Type.Union([Type.Literal('stop'), Type.Literal('length')], { description: 'stop: the policy ended the reply (EOS); length: maxNewTokens reached' }),
});

export const GenerateAnswer = Type.Object({
  version: Type.String(),
  /** Pass it with the feedback on this answer (POST /api/policies/feedback/:agentId `requestId`) to attribute it. */
  requestId: Type.String({ format: 'uuid' }),
  completions: Type.Array(Completion),
});
