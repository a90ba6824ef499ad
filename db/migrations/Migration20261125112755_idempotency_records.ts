import { Migration } from '@mikro-orm/migrations';

export class Migration20261125112755_idempotency_records extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "idempotency_record" ("project_id" varchar(64) not null, "key" varchar(255) not null, "request_hash" varchar(64) not null, "status" smallint not null, "response" jsonb not null, "created_at" timestamptz(6) not null, constraint "idempotency_record_pkey" primary key ("project_id", "key"));`);
    this.addSql(`create index "idempotency_record_created_at_index" on "idempotency_record" ("created_at");`);

    this.addSql(`alter table "idempotency_record" add constraint "idempotency_record_project_id_foreign" foreign key ("project_id") references "project" ("id") on update cascade on delete cascade;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "idempotency_record" cascade;`);
  }

}
