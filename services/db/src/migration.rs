//! The schema's history, applied at start by [`crate::connect`] through
//! `sea-orm-migration` (its `seaql_migrations` table records what ran).
//!
//! Migrations are written out column by column rather than derived from the
//! entities, so a later change to an entity cannot rewrite history. Never
//! edit a migration that has shipped: add the next one.

use sea_orm_migration::prelude::*;

/// Every migration, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_tables::Migration),
            Box::new(m20261202_000001_net_usage::Migration),
            Box::new(m20261202_000002_tenant_egress::Migration),
        ]
    }
}

fn id(name: &str) -> Alias {
    Alias::new(name)
}

fn big(name: &str) -> ColumnDef {
    ColumnDef::new(id(name)).big_integer().not_null().to_owned()
}

fn big_null(name: &str) -> ColumnDef {
    ColumnDef::new(id(name)).big_integer().null().to_owned()
}

fn string(name: &str) -> ColumnDef {
    ColumnDef::new(id(name)).string().not_null().to_owned()
}

fn string_null(name: &str) -> ColumnDef {
    ColumnDef::new(id(name)).string().null().to_owned()
}

fn flag(name: &str) -> ColumnDef {
    ColumnDef::new(id(name))
        .boolean()
        .not_null()
        .default(false)
        .to_owned()
}

/// The first schema: runs, run_logs, files, usage, records_applied, api_keys.
mod m20261125_000001_create_tables {
    use super::*;

    /// Creates every table and index.
    #[derive(DeriveMigrationName)]
    pub struct Migration;

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .create_table(
                    Table::create()
                        .table(id("runs"))
                        .col(string("id").primary_key())
                        .col(string("tenant"))
                        .col(string("status"))
                        .col(big("attempt"))
                        .col(string_null("outcome"))
                        .col(ColumnDef::new(id("value")).text().null())
                        .col(ColumnDef::new(id("error")).text().null())
                        .col(big_null("cpu_ms"))
                        .col(big_null("wall_ms"))
                        .col(big_null("heap_peak_bytes"))
                        .col(big_null("queued_ms"))
                        .col(big_null("events"))
                        .col(big_null("log_bytes"))
                        .col(big_null("submitted_ms"))
                        .col(big_null("finished_ms"))
                        .col(string_null("token_hash"))
                        .col(big("excerpt_lines").default(0))
                        .col(big("excerpt_bytes").default(0))
                        .col(flag("excerpt_truncated"))
                        .col(big("created_ms"))
                        .col(big("updated_ms"))
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("runs_tenant")
                        .table(id("runs"))
                        .col(id("tenant"))
                        .to_owned(),
                )
                .await?;
            manager
                .create_table(
                    Table::create()
                        .table(id("run_logs"))
                        .col(string("run"))
                        .col(big("attempt"))
                        .col(big("seq"))
                        .col(string("level"))
                        .col(ColumnDef::new(id("msg")).text().not_null())
                        .col(big("ts_ms"))
                        .primary_key(
                            Index::create()
                                .col(id("run"))
                                .col(id("attempt"))
                                .col(id("seq")),
                        )
                        .to_owned(),
                )
                .await?;
            manager
                .create_table(
                    Table::create()
                        .table(id("files"))
                        .col(string("run"))
                        .col(big("attempt"))
                        .col(string("name"))
                        .col(string("media_type"))
                        .col(big("size"))
                        .col(string("key"))
                        .primary_key(
                            Index::create()
                                .col(id("run"))
                                .col(id("attempt"))
                                .col(id("name")),
                        )
                        .to_owned(),
                )
                .await?;
            manager
                .create_table(
                    Table::create()
                        .table(id("usage"))
                        .col(string("tenant"))
                        .col(string("day"))
                        .col(big("runs").default(0))
                        .col(big("cpu_ms").default(0))
                        .col(big("wall_ms").default(0))
                        .col(big("bytes_out").default(0))
                        .primary_key(Index::create().col(id("tenant")).col(id("day")))
                        .to_owned(),
                )
                .await?;
            manager
                .create_table(
                    Table::create()
                        .table(id("records_applied"))
                        .col(string("run"))
                        .col(big("attempt"))
                        .col(big("applied_ms"))
                        .primary_key(Index::create().col(id("run")).col(id("attempt")))
                        .to_owned(),
                )
                .await?;
            manager
                .create_table(
                    Table::create()
                        .table(id("api_keys"))
                        .col(string("id").primary_key())
                        .col(string("tenant"))
                        .col(string("key_hash").unique_key())
                        .col(string("plan"))
                        .col(string_null("label"))
                        .col(big("created_ms"))
                        .col(flag("revoked"))
                        .col(big_null("revoked_ms"))
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("api_keys_tenant")
                        .table(id("api_keys"))
                        .col(id("tenant"))
                        .to_owned(),
                )
                .await
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            for table in [
                "api_keys",
                "records_applied",
                "usage",
                "files",
                "run_logs",
                "runs",
            ] {
                manager
                    .drop_table(Table::drop().table(id(table)).to_owned())
                    .await?;
            }
            Ok(())
        }
    }
}

/// The network's use, per run and per tenant's day: requests and bytes.
mod m20261202_000001_net_usage {
    use super::*;

    /// Adds `net_requests` and `net_bytes` to `runs` and `usage`.
    pub struct Migration;

    // Named by hand: `DeriveMigrationName` takes the file's name, which
    // every migration in this file shares (the first one is "migration").
    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261202_000001_net_usage"
        }
    }

    /// A count that starts at 0 for rows already there.
    fn zero(name: &str) -> ColumnDef {
        ColumnDef::new(id(name))
            .big_integer()
            .not_null()
            .default(0)
            .to_owned()
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            // One column per statement: SQLite alters no more at once.
            for table in ["runs", "usage"] {
                for column in ["net_requests", "net_bytes"] {
                    manager
                        .alter_table(
                            Table::alter()
                                .table(id(table))
                                .add_column(zero(column))
                                .to_owned(),
                        )
                        .await?;
                }
            }
            Ok(())
        }
    }
}

/// Tenants' own network rules.
mod m20261202_000002_tenant_egress {
    use super::*;

    /// Creates `tenant_egress`.
    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261202_000002_tenant_egress"
        }
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .create_table(
                    Table::create()
                        .table(id("tenant_egress"))
                        .if_not_exists()
                        .col(string("tenant").primary_key())
                        .col(string("only_domains"))
                        .col(string("only_nets"))
                        .col(string("deny_domains"))
                        .col(string("deny_nets"))
                        .col(big("updated_ms"))
                        .to_owned(),
                )
                .await
        }
    }
}
