import { Migration } from '@mikro-orm/migrations';

export class Migration20261203090727_run_events extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "run_update" ("run_id" varchar(64) not null, "update" int not null, "metrics" jsonb not null, "samples" jsonb not null, "created_at" timestamptz(6) not null, constraint "run_update_pkey" primary key ("run_id", "update"));`);

    this.addSql(`create table "run_event" ("run_id" varchar(64) not null, "seq" int not null, "kind" varchar(32) not null, "dedup_key" varchar(128) null, "data" jsonb not null, "created_at" timestamptz(6) not null, constraint "run_event_pkey" primary key ("run_id", "seq"));`);
    this.addSql(`alter table "run_event" add constraint "run_event_run_id_dedup_key_unique" unique ("run_id", "dedup_key");`);

    this.addSql(`alter table "run_update" add constraint "run_update_run_id_foreign" foreign key ("run_id") references "training_run" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "run_event" add constraint "run_event_run_id_foreign" foreign key ("run_id") references "training_run" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "training_run" add column "event_seq" int not null default 0;`);
    this.addSql(`create index "training_run_created_at_id_index" on "training_run" ("created_at", "id");`);

    // Runs that finished before the event stream existed get their end event, so a stream of one ends at once.
    this.addSql(`insert into "run_event" ("run_id", "seq", "kind", "dedup_key", "data", "created_at") select "id", 1, 'end', 'end', json_build_object('status', "status", 'error', "error"), coalesce("finished_at", "updated_at") from "training_run" where "status" in ('completed', 'failed', 'cancelled');`);
    this.addSql(`update "training_run" set "event_seq" = 1 where "status" in ('completed', 'failed', 'cancelled');`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "run_update" cascade;`);

    this.addSql(`drop table if exists "run_event" cascade;`);

    this.addSql(`drop index "training_run_created_at_id_index";`);
    this.addSql(`alter table "training_run" drop column "event_seq";`);
  }

}
