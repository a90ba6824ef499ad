import { Migration } from '@mikro-orm/migrations';

/**
 * Policy versions name their files by artifact-store key, not by the absolute path on the
 * worker that saved them (issue 16): a key opens on any machine with the store, and no server
 * path reaches a client. Every version's files live at `{agentId}/{version}/policy` and
 * `.../reward_model` (storage/artifact-keys.ts `policyKey`, written by the savePolicy
 * activity), so the keys follow from the row itself, whatever the old root was.
 */
export class Migration20261203210000_artifact_keys extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "policy_version" rename column "model_path" to "model_key";`);
    this.addSql(`alter table "policy_version" rename column "reward_model_path" to "reward_model_key";`);
    this.addSql(`update "policy_version" set "model_key" = "agent_id" || '/' || "version" || '/policy', "reward_model_key" = "agent_id" || '/' || "version" || '/reward_model';`);
  }

  /** Back to the old column names; the values stay keys (the old root is not known here). */
  override async down(): Promise<void> {
    this.addSql(`alter table "policy_version" rename column "model_key" to "model_path";`);
    this.addSql(`alter table "policy_version" rename column "reward_model_key" to "reward_model_path";`);
  }

}
