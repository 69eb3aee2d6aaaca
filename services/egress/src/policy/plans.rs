//! [`PlanPolicies`]: the operator's policy as each plan sees it, built once
//! at start from the plan's rules (`MOAT_EGRESS_ANON_RULES`,
//! `MOAT_EGRESS_TENANT_RULES`), so a request only picks its plan's policy
//! and narrows it further by its tenant's rules.

use moat_wire::egress::EgressPlan;

use super::narrow::Narrowing;
use super::rules::Policy;

/// The policy for each plan: the operator's, narrowed by the plan's rules.
#[derive(Debug, Clone)]
pub struct PlanPolicies {
    anonymous: Policy,
    tenant: Policy,
}

impl PlanPolicies {
    /// Each plan's policy from the operator's and the plans' rules.
    pub fn new(operator: &Policy, anonymous: &Narrowing, tenant: &Narrowing) -> Self {
        Self {
            anonymous: operator.narrow(anonymous),
            tenant: operator.narrow(tenant),
        }
    }

    /// The operator's policy for both plans.
    pub fn same(operator: &Policy) -> Self {
        Self::new(operator, &Narrowing::default(), &Narrowing::default())
    }

    /// The policy a plan's requests are made under.
    pub fn of(&self, plan: EgressPlan) -> &Policy {
        match plan {
            EgressPlan::Anonymous => &self.anonymous,
            EgressPlan::Tenant => &self.tenant,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::policy::refusal::Refusal;
    use crate::policy::settings::parse_narrowing;
    use crate::policy::target::target;

    fn check(policy: &Policy, url: &str, resolved: &str) -> Result<(), Refusal> {
        let t = target(url)?;
        policy.check_target(&t)?;
        policy.check_addr(&t.host, SocketAddr::new(resolved.parse().unwrap(), t.port))
    }

    #[test]
    fn each_plan_gets_its_own_rules_on_top_of_the_operators() {
        let operator = Policy {
            deny_domains: vec!["evil.example".into()],
            ..Policy::default()
        };
        let anonymous = parse_narrowing("only-domains=api.example.com").unwrap();
        let tenant = parse_narrowing("blocked-ports=8080").unwrap();
        let plans = PlanPolicies::new(&operator, &anonymous, &tenant);
        let (anon, ten) = (
            plans.of(EgressPlan::Anonymous),
            plans.of(EgressPlan::Tenant),
        );
        assert_eq!(check(anon, "https://api.example.com/", "8.8.8.8"), Ok(()));
        assert!(matches!(
            check(anon, "https://www.example.com/", "8.8.8.8"),
            Err(Refusal::NotAllowed(_))
        ));
        assert_eq!(check(ten, "https://www.example.com/", "8.8.8.8"), Ok(()));
        assert!(matches!(
            check(ten, "http://www.example.com:8080/", "8.8.8.8"),
            Err(Refusal::Port { port: 8080 })
        ));
        // The operator's own rules hold for both.
        for policy in [anon, ten] {
            assert!(matches!(
                check(policy, "https://evil.example/", "8.8.8.8"),
                Err(Refusal::DenyDomain { .. })
            ));
        }
        let same = PlanPolicies::same(&operator);
        assert_eq!(same.of(EgressPlan::Anonymous), &operator);
    }
}
