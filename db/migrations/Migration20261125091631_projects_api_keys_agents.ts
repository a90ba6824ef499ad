import { Migration } from '@mikro-orm/migrations';

export class Migration20261125091631_projects_api_keys_agents extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "project" ("id" varchar(64) not null, "name" varchar(128) not null, "created_at" timestamptz(6) not null, constraint "project_pkey" primary key ("id"));`);
    this.addSql(`alter table "project" add constraint "project_name_unique" unique ("name");`);

    this.addSql(`create table "api_key" ("id" uuid not null, "project_id" varchar(64) not null, "name" varchar(64) not null, "prefix" varchar(16) not null, "key_hash" varchar(64) not null, "created_at" timestamptz(6) not null, "revoked_at" timestamptz(6) null, constraint "api_key_pkey" primary key ("id"));`);
    this.addSql(`alter table "api_key" add constraint "api_key_prefix_unique" unique ("prefix");`);

    this.addSql(`create table "agent" ("id" varchar(64) not null, "project_id" varchar(64) not null, "created_at" timestamptz(6) not null, constraint "agent_pkey" primary key ("id"));`);
    this.addSql(`create index "agent_project_id_index" on "agent" ("project_id");`);

    this.addSql(`alter table "api_key" add constraint "api_key_project_id_foreign" foreign key ("project_id") references "project" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "agent" add constraint "agent_project_id_foreign" foreign key ("project_id") references "project" ("id") on update cascade;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "api_key" drop constraint "api_key_project_id_foreign";`);

    this.addSql(`alter table "agent" drop constraint "agent_project_id_foreign";`);

    this.addSql(`drop table if exists "project" cascade;`);

    this.addSql(`drop table if exists "api_key" cascade;`);

    this.addSql(`drop table if exists "agent" cascade;`);
  }

}
