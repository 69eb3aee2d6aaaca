//! Tenants' settings kept beside their keys: today, their own network
//! rules (`tenant_egress`), which the edge attaches to each of their runs.

use moat_wire::egress::EgressRules;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};

use crate::entity::tenant_egress;
use crate::DbError;

fn join(list: &[String]) -> String {
    list.join(",")
}

fn split(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A tenant's rules, if it has any.
pub async fn tenant_egress<C: ConnectionTrait>(
    c: &C,
    tenant: &str,
) -> Result<Option<EgressRules>, DbError> {
    let row = tenant_egress::Entity::find_by_id(tenant.to_owned())
        .one(c)
        .await?;
    Ok(row
        .map(|r| EgressRules {
            only_domains: split(&r.only_domains),
            only_nets: split(&r.only_nets),
            deny_domains: split(&r.deny_domains),
            deny_nets: split(&r.deny_nets),
        })
        .filter(|rules| !rules.is_empty()))
}

/// Sets a tenant's rules (empty rules remove them). The caller checks them.
pub async fn set_tenant_egress<C: ConnectionTrait>(
    c: &C,
    tenant: &str,
    rules: &EgressRules,
) -> Result<(), DbError> {
    if rules.is_empty() {
        tenant_egress::Entity::delete_by_id(tenant.to_owned())
            .exec(c)
            .await?;
        return Ok(());
    }
    let row = tenant_egress::ActiveModel {
        tenant: Set(tenant.to_owned()),
        only_domains: Set(join(&rules.only_domains)),
        only_nets: Set(join(&rules.only_nets)),
        deny_domains: Set(join(&rules.deny_domains)),
        deny_nets: Set(join(&rules.deny_nets)),
        updated_ms: Set(crate::now_ms()),
    };
    tenant_egress::Entity::insert(row)
        .on_conflict(
            OnConflict::column(tenant_egress::Column::Tenant)
                .update_columns([
                    tenant_egress::Column::OnlyDomains,
                    tenant_egress::Column::OnlyNets,
                    tenant_egress::Column::DenyDomains,
                    tenant_egress::Column::DenyNets,
                    tenant_egress::Column::UpdatedMs,
                ])
                .to_owned(),
        )
        .exec_without_returning(c)
        .await?;
    Ok(())
}
