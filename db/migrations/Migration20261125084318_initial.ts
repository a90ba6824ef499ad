import { Migration } from '@mikro-orm/migrations';

export class Migration20261125084318_initial extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "feedback" ("id" bigserial primary key, "project_id" varchar(64) null, "agent_id" varchar(64) not null, "run_id" varchar(64) not null, "prompt" text not null, "response" text not null, "score" double precision not null, "notes" text null, "created_at" timestamptz(6) not null);`);
    this.addSql(`create index "feedback_agent_id_id_index" on "feedback" ("agent_id", "id");`);

    this.addSql(`create table "policy_version" ("id" uuid not null, "agent_id" varchar(64) not null, "version" varchar(32) not null, "version_number" int not null, "model_path" text not null, "reward_model_path" text not null, "feedback_count" int not null, "reward_mean" double precision not null, "reward_std" double precision not null, "metrics" jsonb not null, "training_run_id" varchar(64) not null, "created_at" timestamptz(6) not null, constraint "policy_version_pkey" primary key ("id"));`);
    this.addSql(`alter table "policy_version" add constraint "policy_version_training_run_id_unique" unique ("training_run_id");`);
    this.addSql(`alter table "policy_version" add constraint "policy_version_agent_id_version_number_unique" unique ("agent_id", "version_number");`);

    this.addSql(`create table "training_run" ("id" varchar(64) not null, "workflow_id" varchar(128) not null, "agent_id" varchar(64) not null, "status" text check ("status" in ('queued', 'running', 'paused', 'completed', 'failed', 'cancelled')) not null default 'queued', "config" jsonb not null, "error" text null, "created_at" timestamptz(6) not null, "updated_at" timestamptz(6) not null, "finished_at" timestamptz(6) null, constraint "training_run_pkey" primary key ("id"));`);
    this.addSql(`create index "training_run_agent_id_index" on "training_run" ("agent_id");`);
    this.addSql(`create unique index "training_run_one_active_per_agent" on "training_run" ("agent_id") where "status" in ('queued', 'running', 'paused');`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "feedback" cascade;`);

    this.addSql(`drop table if exists "policy_version" cascade;`);

    this.addSql(`drop table if exists "training_run" cascade;`);
  }

}
