//! Layers: experiments that may reach the same users share a layer, and each live one holds a
//! disjoint slice of the layer's 10,000 buckets, so that a user is in at most one of them.
//!
//! A user's bucket in a layer is `bucket("layer:" + layer id, userId)` (docs/ASSIGNMENT.md,
//! "Layers"); a user is in an experiment only when that bucket lies in its slice, and is then
//! assigned an arm exactly as without layers (the experiment's own salt and allocation).

use super::{SYSTEM_TENANT, TargetType};
use crate::domain::assignment::{BUCKETS, bucket};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Longest layer key, in bytes.
pub const MAX_LAYER_KEY: usize = 64;

/// The prefix of a layer's salt: a layer's bucket is `bucket(LAYER_SALT_PREFIX + id, user)`.
pub const LAYER_SALT_PREFIX: &str = "layer:";

/// A half-open range `[start, end)` of a layer's buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LayerSlice {
    /// The first bucket, 0 to 9,999.
    pub start: u16,
    /// One past the last bucket, 1 to 10,000.
    pub end: u16,
}

impl LayerSlice {
    /// The whole layer, `[0, 10000)`: what every experiment started before layers holds.
    pub const FULL: LayerSlice = LayerSlice {
        start: 0,
        end: BUCKETS,
    };

    /// How many buckets it holds.
    pub fn len(self) -> u16 {
        self.end.saturating_sub(self.start)
    }

    /// Whether it holds no bucket.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// Whether it is the whole layer (then the layer's bucket need not be computed).
    pub fn is_full(self) -> bool {
        self.start == 0 && self.end >= BUCKETS
    }

    /// Whether bucket `b` is in it.
    pub fn contains(self, b: u16) -> bool {
        self.start <= b && b < self.end
    }
}

/// Whether `key` is a layer key: 1 to 64 ASCII letters, digits, `_`, `.` or `-`.
pub fn is_layer_key(key: &str) -> bool {
    (1..=MAX_LAYER_KEY).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// The id of the layer an experiment of `tenant` on `target` is in: a named layer
/// `named:<tenant>/<key>` (a system-wide experiment's tenant is `system`), or without a name
/// the target's own layer `target:<targetType>/<targetId>`, which every experiment on that
/// target shares, system-wide and tenants' alike.
pub fn layer_id(
    tenant: &str,
    layer: Option<&str>,
    target_type: TargetType,
    target_id: &str,
) -> String {
    match layer {
        Some(key) => format!("named:{tenant}/{key}"),
        None => format!("target:{}/{target_id}", target_type.as_str()),
    }
}

/// A layer's salt: `"layer:" + id`.
pub fn layer_salt(layer_id: &str) -> String {
    format!("{LAYER_SALT_PREFIX}{layer_id}")
}

/// A user's bucket in the layer of salt `layer_salt` (see [`layer_salt`]).
pub fn layer_bucket(layer_salt: &str, user_id: &str) -> u16 {
    bucket(layer_salt, user_id)
}

/// Whether `user_id` is in `slice` of the layer of salt `layer_salt`; a full slice holds
/// everyone without hashing.
pub fn in_slice(layer_salt: &str, user_id: &str, slice: LayerSlice) -> bool {
    slice.is_full() || slice.contains(layer_bucket(layer_salt, user_id))
}

/// The free gaps of a layer whose live experiments hold `occupied` (in any order, possibly
/// overlapping: experiments that can never reach the same users may hold the same buckets),
/// in bucket order.
pub fn free_gaps(occupied: &[LayerSlice]) -> Vec<LayerSlice> {
    let mut taken: Vec<LayerSlice> = occupied.iter().copied().filter(|s| !s.is_empty()).collect();
    taken.sort_by_key(|s| (s.start, s.end));
    let mut gaps = Vec::new();
    let mut at = 0u16;
    for s in taken {
        if s.start > at {
            gaps.push(LayerSlice {
                start: at,
                end: s.start,
            });
        }
        at = at.max(s.end.min(BUCKETS));
    }
    if at < BUCKETS {
        gaps.push(LayerSlice {
            start: at,
            end: BUCKETS,
        });
    }
    gaps
}

/// How many of the layer's buckets are free.
pub fn free_buckets(occupied: &[LayerSlice]) -> u16 {
    free_gaps(occupied).iter().map(|g| g.len()).sum()
}

/// Why no slice could be placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoFreeSlice {
    /// Buckets free in all.
    pub free: u16,
    /// The largest free gap, in buckets.
    pub largest_gap: u16,
}

/// The slice a starting experiment gets in a layer whose live experiments (those it may
/// share users with) hold `occupied`: with `share` (whole percent), `100·share` buckets at
/// the start of the first free gap big enough; without, the largest free gap (the first of
/// equals). `Err` when no gap is big enough (or none is free).
pub fn place_slice(occupied: &[LayerSlice], share: Option<u8>) -> Result<LayerSlice, NoFreeSlice> {
    let gaps = free_gaps(occupied);
    let refused = NoFreeSlice {
        free: gaps.iter().map(|g| g.len()).sum(),
        largest_gap: gaps.iter().map(|g| g.len()).max().unwrap_or(0),
    };
    match share {
        Some(share) => {
            let want = 100 * u16::from(share.clamp(1, 100));
            gaps.iter()
                .find(|g| g.len() >= want)
                .map(|g| LayerSlice {
                    start: g.start,
                    end: g.start + want,
                })
                .ok_or(refused)
        }
        None => gaps
            .iter()
            .copied()
            // `max_by_key` keeps the last of equals: the first is wanted.
            .reduce(|best, g| if g.len() > best.len() { g } else { best })
            .ok_or(refused),
    }
}

/// A percent of a layer for people: `37`, `33.33`.
pub fn percent(buckets: u16) -> String {
    let p = f64::from(buckets) / 100.0;
    if buckets.is_multiple_of(100) {
        format!("{p:.0}%")
    } else {
        format!("{p:.2}%")
    }
}

/// A layer as people read it: `checkout` (of acme), `the target's own layer (prompt/p)`.
pub fn layer_label(
    tenant: &str,
    layer: Option<&str>,
    target_type: TargetType,
    target_id: &str,
) -> String {
    match layer {
        Some(key) if tenant == SYSTEM_TENANT => format!("layer {key:?} (system-wide)"),
        Some(key) => format!("layer {key:?} of tenant {tenant:?}"),
        None => format!(
            "the layer of {} {target_id:?} ({})",
            target_type.as_str(),
            layer_id(tenant, None, target_type, target_id)
        ),
    }
}

/// One slice of a layer held by a live experiment, as the wizard shows it: the experiment's
/// id and name only when the caller may see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct OccupiedSlice {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub start: u16,
    pub end: u16,
}

/// A layer's free share, for the creation wizard
/// (`GET /api/v1/admin/insights/layers/free`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LayerFree {
    /// The layer's id (`target:<targetType>/<targetId>` or `named:<tenant>/<key>`).
    pub layer: String,
    /// Percent of the layer's traffic no live experiment that may reach the same users
    /// holds (0 to 100; hundredths when slices are not whole percents).
    pub free_share: f64,
    /// The largest free gap, in percent: the most `layerShare` can ask for.
    pub largest_free_share: f64,
    /// The slices held, in bucket order.
    pub occupied: Vec<OccupiedSlice>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(start: u16, end: u16) -> LayerSlice {
        LayerSlice { start, end }
    }

    #[test]
    fn an_empty_layer_gives_the_share_asked_from_bucket_zero_or_everything() {
        assert_eq!(place_slice(&[], Some(50)), Ok(s(0, 5000)));
        assert_eq!(place_slice(&[], Some(100)), Ok(s(0, 10000)));
        assert_eq!(place_slice(&[], Some(1)), Ok(s(0, 100)));
        assert_eq!(place_slice(&[], None), Ok(LayerSlice::FULL));
    }

    #[test]
    fn slices_go_into_the_first_gap_big_enough() {
        let held = [s(0, 2000), s(3000, 5000)];
        assert_eq!(place_slice(&held, Some(10)), Ok(s(2000, 3000)));
        assert_eq!(place_slice(&held, Some(20)), Ok(s(5000, 7000)));
        assert_eq!(place_slice(&held, Some(50)), Ok(s(5000, 10000)));
        assert_eq!(
            place_slice(&held, Some(51)),
            Err(NoFreeSlice {
                free: 6000,
                largest_gap: 5000
            })
        );
        // Without a share: the largest gap.
        assert_eq!(place_slice(&held, None), Ok(s(5000, 10000)));
        // The first of equal gaps.
        assert_eq!(
            place_slice(&[s(2000, 8000)], None),
            Ok(s(0, 2000)),
            "two gaps of 2,000: the first"
        );
    }

    #[test]
    fn a_full_layer_refuses_with_nothing_free() {
        assert_eq!(
            place_slice(&[LayerSlice::FULL], Some(1)),
            Err(NoFreeSlice {
                free: 0,
                largest_gap: 0
            })
        );
        assert_eq!(
            place_slice(&[s(0, 5000), s(5000, 10000)], None),
            Err(NoFreeSlice {
                free: 0,
                largest_gap: 0
            })
        );
    }

    #[test]
    fn overlapping_held_slices_count_once() {
        // Two tenants' experiments may hold the same buckets; a system-wide one sees both.
        let held = [s(0, 5000), s(0, 5000), s(2000, 6000)];
        assert_eq!(free_buckets(&held), 4000);
        assert_eq!(free_gaps(&held), vec![s(6000, 10000)]);
        assert_eq!(place_slice(&held, Some(40)), Ok(s(6000, 10000)));
    }

    #[test]
    fn placed_slices_never_overlap_the_held_ones() {
        // Every sequence of starts from a small set of shares, exhaustively to depth 4.
        let shares = [
            None,
            Some(1),
            Some(10),
            Some(25),
            Some(33),
            Some(50),
            Some(100),
        ];
        fn go(held: &mut Vec<LayerSlice>, depth: usize, shares: &[Option<u8>]) {
            if depth == 0 {
                return;
            }
            for &share in shares {
                match place_slice(held, share) {
                    Ok(slice) => {
                        assert!(slice.end <= BUCKETS && slice.start < slice.end);
                        if let Some(p) = share {
                            assert_eq!(slice.len(), 100 * u16::from(p));
                        }
                        for h in held.iter() {
                            assert!(
                                slice.end <= h.start || h.end <= slice.start,
                                "{slice:?} overlaps {h:?}"
                            );
                        }
                        held.push(slice);
                        go(held, depth - 1, shares);
                        held.pop();
                    }
                    Err(refused) => {
                        assert_eq!(refused.free, free_buckets(held));
                        if let Some(p) = share {
                            assert!(refused.largest_gap < 100 * u16::from(p));
                        } else {
                            assert_eq!(refused.free, 0);
                        }
                    }
                }
            }
        }
        go(&mut Vec::new(), 4, &shares);
    }

    #[test]
    fn layer_ids_and_salts_are_as_documented() {
        assert_eq!(
            layer_id("acme", None, TargetType::Prompt, "p1"),
            "target:prompt/p1"
        );
        assert_eq!(
            layer_id("system", None, TargetType::Prompt, "p1"),
            "target:prompt/p1",
            "the target's layer is shared by system-wide and tenant experiments"
        );
        assert_eq!(
            layer_id("acme", Some("checkout"), TargetType::Prompt, "p1"),
            "named:acme/checkout"
        );
        assert_eq!(
            layer_id("system", Some("checkout"), TargetType::Prompt, "p1"),
            "named:system/checkout"
        );
        assert_eq!(layer_salt("target:prompt/p1"), "layer:target:prompt/p1");
        assert_eq!(
            layer_bucket("layer:target:prompt/p1", "u1"),
            bucket("layer:target:prompt/p1", "u1")
        );
    }

    #[test]
    fn a_full_slice_holds_everyone_and_a_half_about_half() {
        let salt = layer_salt("target:prompt/p1");
        assert!((0..1000).all(|i| in_slice(&salt, &format!("u{i}"), LayerSlice::FULL)));
        let half = (0..4000)
            .filter(|i| in_slice(&salt, &format!("u{i}"), s(0, 5000)))
            .count();
        assert!((1850..2150).contains(&half), "{half}");
    }

    #[test]
    fn layer_keys() {
        for ok in ["a", "checkout", "A.b-c_9", &"x".repeat(64)] {
            assert!(is_layer_key(ok), "{ok}");
        }
        for bad in ["", "a b", "a/b", "a:b", "é", &"x".repeat(65)] {
            assert!(!is_layer_key(bad), "{bad}");
        }
    }

    #[test]
    fn percents_read_well() {
        assert_eq!(percent(0), "0%");
        assert_eq!(percent(5000), "50%");
        assert_eq!(percent(3333), "33.33%");
    }
}
