/**
 * One change of what an agent's serving endpoint answers with (issue 13): the full list of
 * variants after the change, with its time. The agent's current deployment is its newest row,
 * so the table is also the deployment's history (`GET …/deployment/history`) and a rollback is
 * one more row that restores an older list.
 */
import { BigIntType, EntitySchema, type Opt } from '@mikro-orm/core';

/** A policy version served to a share of the agent's traffic. */
export interface DeploymentVariant {
  /** The version label, e.g. "v3" (PolicyVersion.version). */
  version: string;
  /** Share of traffic in (0, 1]; a deployment's weights sum to 1. */
  weight: number;
}

export const DeploymentActions = ['set', 'promote', 'rollback'] as const;
export type DeploymentAction = (typeof DeploymentActions)[number];

/** How requests are assigned to variants: 'subject' hashes the request's subject (sticky), null draws at random. */
export type DeploymentSticky = 'subject' | null;

export interface DeploymentChange {
  /** bigserial as a decimal string: orders an agent's changes (two changes may share a timestamp). */
  id: string;
  agentId: string;
  variants: DeploymentVariant[];
  sticky: DeploymentSticky;
  action: DeploymentAction;
  createdAt: Date & Opt;
}

export const DeploymentChangeSchema = new EntitySchema<DeploymentChange>({
  name: 'DeploymentChange',
  tableName: 'deployment_change',
  properties: {
    id: { type: new BigIntType('string'), primary: true, autoincrement: true },
    agentId: { type: 'string', length: 64 },
    variants: { type: 'json' },
    sticky: { type: 'string', length: 16, nullable: true },
    action: { type: 'string', length: 16 },
    createdAt: { type: 'datetime', length: 6, onCreate: () => new Date() },
  },
  indexes: [{ name: 'deployment_change_agent_id_id_index', properties: ['agentId', 'id'] }],
});
