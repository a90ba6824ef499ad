import { Migration } from '@mikro-orm/migrations';

/** Serving and A/B (issue 13): deployment history, answered generate requests, feedback attribution. */
export class Migration20261203180000_serving extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "deployment_change" ("id" bigserial primary key, "agent_id" varchar(64) not null, "variants" jsonb not null, "sticky" varchar(16) null, "action" varchar(16) not null, "created_at" timestamptz(6) not null);`);
    this.addSql(`create index "deployment_change_agent_id_id_index" on "deployment_change" ("agent_id", "id");`);

    this.addSql(`create table "generation_request" ("id" uuid not null, "project_id" varchar(64) not null, "agent_id" varchar(64) not null, "version" varchar(32) not null, "created_at" timestamptz(6) not null, constraint "generation_request_pkey" primary key ("id"));`);
    this.addSql(`create index "generation_request_created_at_index" on "generation_request" ("created_at");`);

    // Nullable columns without defaults: a metadata-only change, instant on a large feedback table.
    this.addSql(`alter table "feedback" add column "policy_version" varchar(32) null, add column "request_id" uuid null;`);
    this.addSql(`create index "feedback_agent_id_policy_version_index" on "feedback" ("agent_id", "policy_version");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "feedback_agent_id_policy_version_index";`);
    this.addSql(`alter table "feedback" drop column "policy_version", drop column "request_id";`);
    this.addSql(`drop table if exists "generation_request" cascade;`);
    this.addSql(`drop table if exists "deployment_change" cascade;`);
  }

}
