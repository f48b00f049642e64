//! The assignments the writers have seen committed, shared by every writer.

use crate::store::assignments::{Assigned, Key};
use std::collections::HashMap;
use uuid::Uuid;

/// Most assignments kept in memory (about 100 bytes each); past it the cache starts afresh.
const CACHED_ASSIGNMENTS: usize = 500_000;

/// The assignments the writers have seen committed, by experiment, tenant and user. An
/// assignment is never moved nor deleted once committed (its variant is fixed; experiments
/// are never deleted), so a copy in memory stays true and is shared by every writer: a user
/// seen before costs the database no look-up. A user the cache does not hold is read (or
/// created) as before.
#[derive(Default)]
pub(super) struct AssignmentCache {
    inner: std::sync::Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    len: usize,
    by_experiment: HashMap<Uuid, HashMap<String, HashMap<String, Assigned>>>,
}

impl AssignmentCache {
    /// The cached assignment of each key, by position.
    pub(super) fn get(&self, keys: &[Key<'_>]) -> Vec<Option<Assigned>> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter()
            .map(|k| {
                inner
                    .by_experiment
                    .get(&k.experiment)
                    .and_then(|t| t.get(k.tenant))
                    .and_then(|u| u.get(k.user))
                    .copied()
            })
            .collect()
    }

    /// Remembers committed assignments.
    pub(super) fn put<'a>(&self, assigned: impl Iterator<Item = (Key<'a>, Assigned)>) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for (
            Key {
                tenant,
                experiment,
                user,
            },
            a,
        ) in assigned
        {
            if inner.len >= CACHED_ASSIGNMENTS {
                inner.by_experiment.clear();
                inner.len = 0;
            }
            let added = inner
                .by_experiment
                .entry(experiment)
                .or_default()
                .entry(tenant.to_owned())
                .or_default()
                .insert(user.to_owned(), a)
                .is_none();
            inner.len += usize::from(added);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key<'a>(tenant: &'a str, experiment: u128, user: &'a str) -> Key<'a> {
        Key {
            tenant,
            experiment: Uuid::from_u128(experiment),
            user,
        }
    }

    fn assigned(id: u128, control: bool) -> Assigned {
        Assigned {
            id: Uuid::from_u128(id),
            variant: if control {
                crate::domain::assignment::Variant::Control
            } else {
                crate::domain::assignment::Variant::Treatment
            },
        }
    }

    /// What was put is found again by its exact key, by position; another tenant, experiment
    /// or user of the same name is not.
    #[test]
    fn a_committed_assignment_is_found_by_its_exact_key_only() {
        let cache = AssignmentCache::default();
        cache.put([(key("acme", 1, "u1"), assigned(7, true))].into_iter());
        let got = cache.get(&[
            key("acme", 1, "u1"),
            key("other", 1, "u1"),
            key("acme", 2, "u1"),
            key("acme", 1, "u2"),
        ]);
        assert_eq!(
            got[0].map(|a| (a.id, a.variant)),
            Some((
                Uuid::from_u128(7),
                crate::domain::assignment::Variant::Control
            ))
        );
        assert!(got[1..].iter().all(Option::is_none));
    }

    /// Past its bound the cache starts afresh rather than growing without end, and keeps
    /// counting what it holds.
    #[test]
    fn a_full_cache_starts_afresh() {
        let cache = AssignmentCache::default();
        let users: Vec<String> = (0..=CACHED_ASSIGNMENTS).map(|i| format!("u{i}")).collect();
        cache.put(
            users
                .iter()
                .enumerate()
                .map(|(i, u)| (key("acme", 1, u), assigned(i as u128, false))),
        );
        let inner = cache.inner.lock().unwrap();
        assert_eq!(inner.len, 1, "the last one put, after the reset");
        drop(inner);
        let last = users.last().unwrap();
        assert!(cache.get(&[key("acme", 1, last)])[0].is_some());
        assert!(cache.get(&[key("acme", 1, "u0")])[0].is_none());
    }
}
