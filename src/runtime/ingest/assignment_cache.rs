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
