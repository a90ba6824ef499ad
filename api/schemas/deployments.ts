/** Deployment (traffic split) and A/B report schemas (issue 13). */
import { Type, type Static } from 'typebox';
import { MAX_VARIANTS } from '../deployment-rules';

/** The seed's version label: "v" and the version number. */
export const VERSION_LABEL_PATTERN = '^v[1-9][0-9]{0,8}$';
export const VersionLabel = Type.String({ pattern: VERSION_LABEL_PATTERN, description: 'A policy version label, e.g. "v3"' });

export const DeploymentVariantSchema = Type.Object(
  {
    version: VersionLabel,
    weight: Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'Share of traffic; the weights sum to 1' }),
  },
  { additionalProperties: false },
);

export const DeploymentBody = Type.Object(
  {
    variants: Type.Array(DeploymentVariantSchema, { minItems: 1, maxItems: MAX_VARIANTS }),
    sticky: Type.Optional(
      Type.Union([Type.Literal('subject'), Type.Null()], {
        description: '"subject": a request\'s `subject` always gets the same variant (hash of agent and subject); null or absent: each request draws',
      }),
    ),
  },
  { additionalProperties: false },
);
export type DeploymentBodyType = Static<typeof DeploymentBody>;

export const PromoteBody = Type.Object({ version: VersionLabel }, { additionalProperties: false });

export const DeploymentView = Type.Object({
  agentId: Type.String(),
  /** The change's position in the agent's history (a decimal string). */
  changeId: Type.String(),
  action: Type.Union([Type.Literal('set'), Type.Literal('promote'), Type.Literal('rollback')]),
  variants: Type.Array(Type.Object({ version: Type.String(), weight: Type.Number() })),
  sticky: Type.Union([Type.Literal('subject'), Type.Null()]),
  changedAt: Type.String({ format: 'date-time' }),
});

export const DeploymentHistoryQuery = Type.Object(
  { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })) },
  { additionalProperties: false },
);
export const DeploymentHistoryBody = Type.Object({ agentId: Type.String(), changes: Type.Array(DeploymentView) });

export const AbQuery = Type.Object(
  {
    since: Type.Optional(Type.String({ format: 'date-time', description: 'Only feedback recorded at or after this time' })),
    control: Type.Optional(VersionLabel),
  },
  { additionalProperties: false },
);

const Interval = Type.Union([Type.Object({ low: Type.Number(), high: Type.Number() }), Type.Null()], { description: '95 % confidence interval; null below 2 rows' });
export const AbReportBody = Type.Object({
  agentId: Type.String(),
  since: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  control: Type.Union([Type.String(), Type.Null()]),
  versions: Type.Array(
    Type.Object({
      version: Type.String(),
      rows: Type.Integer(),
      meanScore: Type.Union([Type.Number(), Type.Null()]),
      interval: Interval,
      weight: Type.Number(),
    }),
  ),
  comparisons: Type.Array(
    Type.Object({
      version: Type.String(),
      control: Type.String(),
      difference: Type.Union([Type.Number(), Type.Null()]),
      interval: Interval,
      verdict: Type.Union([Type.Literal('better'), Type.Literal('worse'), Type.Literal('not_yet_known')]),
    }),
  ),
});
