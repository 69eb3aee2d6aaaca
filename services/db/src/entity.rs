//! The tables, as sea-orm entities: one submodule per table, each a plain
//! row type (`Model`) plus the generated `Entity`, `Column` and
//! `ActiveModel`. The schema itself is created by [`crate::migration`]; these
//! types only describe it and hold no logic.
//!
//! Every number is `i64` (PostgreSQL `bigint`), every time Unix milliseconds,
//! every JSON value text: the same schema works unchanged on SQLite and
//! PostgreSQL, with no date or JSON column types to disagree about.

/// `runs`: one row per run, the latest attempt's view of it.
pub mod runs {
    use sea_orm::entity::prelude::*;

    /// A run.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "runs")]
    pub struct Model {
        /// The run id (32 hex digits).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// Who submitted it; empty until the edge's insert or the final
        /// record names it (events do not carry the tenant).
        pub tenant: String,
        /// A [`moat_wire::RunStatus`] by name: `queued` (the edge), `running`
        /// (first event), `done` (final record).
        pub status: String,
        /// The latest attempt seen; a later attempt's events and record win.
        pub attempt: i64,
        /// How the run ended (`ok`, `timeout`, ...), once done.
        pub outcome: Option<String>,
        /// The script's value as JSON text, for `ok`.
        #[sea_orm(column_type = "Text", nullable)]
        pub value: Option<String>,
        /// The error as JSON text (`name`, `message`, `stack`, ...), otherwise.
        #[sea_orm(column_type = "Text", nullable)]
        pub error: Option<String>,
        /// CPU time inside the sandbox.
        pub cpu_ms: Option<i64>,
        /// Wall time of the run.
        pub wall_ms: Option<i64>,
        /// Peak JS heap.
        pub heap_peak_bytes: Option<i64>,
        /// Submission to sandbox start.
        pub queued_ms: Option<i64>,
        /// Events published by the attempt, the result included.
        pub events: Option<i64>,
        /// Bytes of log text the attempt produced (not only the excerpt).
        pub log_bytes: Option<i64>,
        /// Requests the attempt made through the egress service.
        pub net_requests: i64,
        /// Response bytes it received.
        pub net_bytes: i64,
        /// Submission time.
        pub submitted_ms: Option<i64>,
        /// End time.
        pub finished_ms: Option<i64>,
        /// SHA-256 (hex) of the per-run token the edge returned at submit.
        pub token_hash: Option<String>,
        /// Lines kept in `run_logs` for the current attempt.
        pub excerpt_lines: i64,
        /// Bytes of text kept in `run_logs` for the current attempt.
        pub excerpt_bytes: i64,
        /// Whether the current attempt logged more than the excerpt holds.
        pub excerpt_truncated: bool,
        /// When the row was created.
        pub created_ms: i64,
        /// When the row last changed.
        pub updated_ms: i64,
    }

    /// No relations are declared; queries join by id explicitly.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `run_logs`: the bounded log excerpt, one row per kept log event.
pub mod run_logs {
    use sea_orm::entity::prelude::*;

    /// A kept log line.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "run_logs")]
    pub struct Model {
        /// The run.
        #[sea_orm(primary_key, auto_increment = false)]
        pub run: String,
        /// The attempt that logged it.
        #[sea_orm(primary_key, auto_increment = false)]
        pub attempt: i64,
        /// The event's sequence number within the attempt.
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i64,
        /// `debug`, `info`, `warn` or `error`.
        pub level: String,
        /// The text (the last kept line may be cut short).
        #[sea_orm(column_type = "Text")]
        pub msg: String,
        /// Milliseconds since the run started.
        pub ts_ms: i64,
    }

    /// No relations are declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `files`: files a run stored, by attempt.
pub mod files {
    use sea_orm::entity::prelude::*;

    /// A stored file.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "files")]
    pub struct Model {
        /// The run.
        #[sea_orm(primary_key, auto_increment = false)]
        pub run: String,
        /// The attempt that stored it.
        #[sea_orm(primary_key, auto_increment = false)]
        pub attempt: i64,
        /// The file's plain name.
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        /// Its media type, as the launcher sniffed it.
        pub media_type: String,
        /// Size in bytes.
        pub size: i64,
        /// Object-store key, `<run>/<attempt>/<name>` ([`moat_wire::file_key`]).
        pub key: String,
    }

    /// No relations are declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `usage`: per tenant per UTC day totals, from final records.
pub mod usage {
    use sea_orm::entity::prelude::*;

    /// One tenant's day.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "usage")]
    pub struct Model {
        /// The tenant.
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        /// The UTC day of the records' `finished_ms`, `YYYY-MM-DD`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: String,
        /// Runs finished (a run counts once, whatever its attempts).
        pub runs: i64,
        /// CPU milliseconds, every recorded attempt.
        pub cpu_ms: i64,
        /// Wall milliseconds, every recorded attempt.
        pub wall_ms: i64,
        /// Log bytes plus file bytes, every recorded attempt.
        pub bytes_out: i64,
        /// Requests made through the egress service, every recorded attempt.
        pub net_requests: i64,
        /// Response bytes received, every recorded attempt.
        pub net_bytes: i64,
    }

    /// No relations are declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `records_applied`: the idempotency marker, one row per final record
/// (run, attempt) already counted.
pub mod records_applied {
    use sea_orm::entity::prelude::*;

    /// A record that was applied.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "records_applied")]
    pub struct Model {
        /// The run.
        #[sea_orm(primary_key, auto_increment = false)]
        pub run: String,
        /// The attempt the record was for.
        #[sea_orm(primary_key, auto_increment = false)]
        pub attempt: i64,
        /// When it was applied.
        pub applied_ms: i64,
    }

    /// No relations are declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `api_keys`: tenants' API keys, stored as SHA-256 hashes only.
pub mod api_keys {
    use sea_orm::entity::prelude::*;

    /// An API key (never the key itself).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_keys")]
    pub struct Model {
        /// A public identifier for listing and revoking (`key_<hex>`).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The tenant the key names.
        pub tenant: String,
        /// SHA-256 of the key, lowercase hex; unique.
        #[sea_orm(unique)]
        pub key_hash: String,
        /// The plan whose limits apply (the edge interprets it).
        pub plan: String,
        /// A label for people.
        pub label: Option<String>,
        /// When it was created.
        pub created_ms: i64,
        /// Whether it was revoked (a revoked key names nobody).
        pub revoked: bool,
        /// When it was revoked.
        pub revoked_ms: Option<i64>,
    }

    /// No relations are declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `tenant_egress`: a tenant's own network rules, which narrow the
/// operator's egress policy for its runs (set with `moat keys egress`).
pub mod tenant_egress {
    use sea_orm::entity::prelude::*;

    /// One tenant's rules; lists are comma-separated, as given.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tenant_egress")]
    pub struct Model {
        /// The tenant.
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        /// When not empty (with `only_nets`), the only domains reachable.
        pub only_domains: String,
        /// When not empty (with `only_domains`), the only nets reachable.
        pub only_nets: String,
        /// Domains never reachable.
        pub deny_domains: String,
        /// Nets never reachable.
        pub deny_nets: String,
        /// When the rules last changed.
        pub updated_ms: i64,
    }

    /// No relations are declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
