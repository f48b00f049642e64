//! Whether two experiments could both apply to one request. The variant middleware serves one
//! configuration per target, so such experiments on one target must share a layer and hold
//! disjoint slices of it (`layer.rs`); in a named layer, such experiments on any target do.

use super::SYSTEM_TENANT;
use crate::domain::assignment::Targeting;
use std::collections::HashSet;

/// The tenants an experiment can reach: `None` means every tenant.
fn reach<'a>(tenant: &'a str, targeting: &'a Targeting) -> Option<HashSet<&'a str>> {
    let listed: Option<HashSet<&str>> = (!targeting.tenant_ids.is_empty())
        .then(|| targeting.tenant_ids.iter().map(String::as_str).collect());
    if tenant == SYSTEM_TENANT {
        listed
    } else {
        // A tenant's experiment reaches its own users only.
        let own = HashSet::from([tenant]);
        Some(match listed {
            Some(l) => own.intersection(&l).copied().collect(),
            None => own,
        })
    }
}

fn disjoint(a: &[String], b: &[String]) -> bool {
    if a.is_empty() || b.is_empty() {
        return false; // an empty list restricts nothing
    }
    let a: HashSet<&str> = a.iter().map(String::as_str).collect();
    !b.iter().any(|x| a.contains(x.as_str()))
}

/// `true` unless targeting proves that no request can match both experiments (disjoint
/// tenants, users or intents). Scopes are not compared: overlapping is assumed.
pub fn may_overlap(
    a_tenant: &str,
    a_targeting: &Targeting,
    b_tenant: &str,
    b_targeting: &Targeting,
) -> bool {
    if let (Some(a), Some(b)) = (reach(a_tenant, a_targeting), reach(b_tenant, b_targeting))
        && a.is_disjoint(&b)
    {
        return false;
    }
    !(disjoint(&a_targeting.user_ids, &b_targeting.user_ids)
        || disjoint(&a_targeting.intents, &b_targeting.intents))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(tenants: &[&str], users: &[&str], intents: &[&str]) -> Targeting {
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect();
        Targeting {
            tenant_ids: v(tenants),
            user_ids: v(users),
            intents: v(intents),
            scopes: vec![],
        }
    }

    #[test]
    fn untargeted_experiments_of_one_tenant_overlap() {
        assert!(may_overlap(
            "acme",
            &t(&[], &[], &[]),
            "acme",
            &t(&[], &[], &[])
        ));
    }

    #[test]
    fn experiments_of_different_tenants_never_overlap() {
        assert!(!may_overlap(
            "acme",
            &t(&[], &[], &[]),
            "globex",
            &t(&[], &[], &[])
        ));
    }

    #[test]
    fn a_system_experiment_overlaps_a_tenant_it_reaches() {
        assert!(may_overlap(
            "system",
            &t(&[], &[], &[]),
            "acme",
            &t(&[], &[], &[])
        ));
        assert!(may_overlap(
            "system",
            &t(&["acme"], &[], &[]),
            "acme",
            &t(&[], &[], &[])
        ));
        assert!(!may_overlap(
            "system",
            &t(&["globex"], &[], &[]),
            "acme",
            &t(&[], &[], &[])
        ));
    }

    #[test]
    fn disjoint_users_or_intents_do_not_overlap() {
        assert!(!may_overlap(
            "a",
            &t(&[], &["u1"], &[]),
            "a",
            &t(&[], &["u2"], &[])
        ));
        assert!(may_overlap(
            "a",
            &t(&[], &["u1", "u2"], &[]),
            "a",
            &t(&[], &["u2"], &[])
        ));
        assert!(!may_overlap(
            "a",
            &t(&[], &[], &["risk"]),
            "a",
            &t(&[], &[], &["summary"])
        ));
        assert!(may_overlap(
            "a",
            &t(&[], &[], &["risk"]),
            "a",
            &t(&[], &[], &[])
        ));
    }
}
