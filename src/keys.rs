//! `moat keys`: API keys for tenants, managed in the database the edge reads.
//! A key is shown once, at creation; only its SHA-256 hash is stored, so a
//! lost key is revoked and replaced, never recovered.

use moat_db as db;

use moat_wire::egress::EgressRules;

use crate::cli::KeysCommand;

/// Why a key command failed.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// The database refused or could not be opened.
    #[error(transparent)]
    Db(#[from] db::DbError),
    /// The tenant name cannot be used.
    #[error("tenant {0:?} must be 1 to 64 of [A-Za-z0-9_-], and not \"anon\"")]
    Tenant(String),
    /// No live key with that id.
    #[error("no live key with id {0:?}")]
    NoSuchKey(String),
    /// A network rule that does not parse.
    #[error("{0}")]
    Rule(String),
}

/// Runs one key command against `database_url`, printing its result.
pub async fn keys(database_url: &str, command: KeysCommand) -> Result<(), KeysError> {
    let conn = db::connect(database_url).await?;
    match command {
        KeysCommand::Create {
            tenant,
            plan,
            label,
        } => {
            if !moat_wire::valid_token(&tenant) || tenant == "anon" {
                return Err(KeysError::Tenant(tenant));
            }
            let (row, key) = db::create_api_key(&conn, &tenant, &plan, label.as_deref()).await?;
            println!("{key}");
            eprintln!(
                "created key {} for tenant {} (plan {}); it is shown only this once",
                row.id, row.tenant, row.plan
            );
        }
        KeysCommand::List { tenant } => {
            println!(
                "{:<22} {:<20} {:<10} {:<8} label",
                "id", "tenant", "plan", "state"
            );
            for row in db::list_api_keys(&conn, tenant.as_deref()).await? {
                let state = if row.revoked { "revoked" } else { "live" };
                let label = row.label.unwrap_or_default();
                println!(
                    "{:<22} {:<20} {:<10} {:<8} {label}",
                    row.id, row.tenant, row.plan, state
                );
            }
        }
        KeysCommand::Revoke { id } => {
            if !db::revoke_api_key(&conn, &id).await? {
                return Err(KeysError::NoSuchKey(id));
            }
            eprintln!("revoked key {id}");
        }
        KeysCommand::Egress {
            tenant,
            only_domains,
            only_nets,
            deny_domains,
            deny_nets,
            clear,
        } => {
            if !moat_wire::valid_token(&tenant) || tenant == "anon" {
                return Err(KeysError::Tenant(tenant));
            }
            let given = [&only_domains, &only_nets, &deny_domains, &deny_nets];
            if clear {
                db::set_tenant_egress(&conn, &tenant, &EgressRules::default()).await?;
                eprintln!("removed the network rules of tenant {tenant}");
            } else if given.iter().any(|g| g.is_some()) {
                let mut rules = db::tenant_egress(&conn, &tenant).await?.unwrap_or_default();
                let domains = |flag: &str, v: &str| {
                    moat_egress::policy::parse_domains(v)
                        .map_err(|e| KeysError::Rule(format!("--{flag}: {e}")))
                };
                let nets = |flag: &str, v: &str| {
                    moat_egress::policy::parse_nets(v)
                        .map(|n| n.iter().map(ToString::to_string).collect::<Vec<_>>())
                        .map_err(|e| KeysError::Rule(format!("--{flag}: {e}")))
                };
                if let Some(v) = &only_domains {
                    rules.only_domains = domains("only-domains", v)?;
                }
                if let Some(v) = &only_nets {
                    rules.only_nets = nets("only-nets", v)?;
                }
                if let Some(v) = &deny_domains {
                    rules.deny_domains = domains("deny-domains", v)?;
                }
                if let Some(v) = &deny_nets {
                    rules.deny_nets = nets("deny-nets", v)?;
                }
                db::set_tenant_egress(&conn, &tenant, &rules).await?;
                eprintln!("set the network rules of tenant {tenant}");
            }
            let rules = db::tenant_egress(&conn, &tenant).await?.unwrap_or_default();
            let show = |list: &[String]| {
                if list.is_empty() {
                    "-".to_owned()
                } else {
                    list.join(",")
                }
            };
            println!("only-domains  {}", show(&rules.only_domains));
            println!("only-nets     {}", show(&rules.only_nets));
            println!("deny-domains  {}", show(&rules.deny_domains));
            println!("deny-nets     {}", show(&rules.deny_nets));
        }
    }
    Ok(())
}
