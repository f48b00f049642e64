//! Traffic allocation: mapping a bucket to an arm with ramp-stable ranges, for 2 to 8 arms.

use serde::{Deserialize, Serialize};

use super::hash::{BUCKETS, bucket};

/// Most arms an experiment has: a control and up to 7 treatments.
pub const MAX_ARMS: usize = 8;
/// Longest arm key, in bytes.
pub const MAX_KEY_LEN: usize = 31;

/// An arm's key: 1 to 31 ASCII letters, digits, `_`, `-` or `.`, starting with a letter or a
/// digit (`control`, `treatment`, `gpt-4o`, `b`). Stored inline, so it is `Copy` and the hot
/// path never allocates for it. The two-arm shape's arms are [`Variant::Control`] and
/// [`Variant::Treatment`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Variant {
    len: u8,
    bytes: [u8; MAX_KEY_LEN],
}

/// Whether `b` may appear in a key (`first`: as its first byte).
const fn key_byte(b: u8, first: bool) -> bool {
    b.is_ascii_alphanumeric() || (!first && (b == b'_' || b == b'-' || b == b'.'))
}

#[allow(non_upper_case_globals)]
impl Variant {
    /// The two-arm shape's control arm.
    pub const Control: Variant = Variant::from_static("control");
    /// The two-arm shape's treatment arm.
    pub const Treatment: Variant = Variant::from_static("treatment");

    /// A key known at compile time (a compile error when it is not a valid key: it is only
    /// ever evaluated in constants).
    #[allow(clippy::panic)]
    pub const fn from_static(s: &str) -> Variant {
        match Variant::parse_bytes(s.as_bytes()) {
            Some(v) => v,
            None => panic!("invalid variant key"),
        }
    }

    // `i < s.len() <= MAX_KEY_LEN` bounds both indexes (a const fn cannot use `get`).
    #[allow(clippy::indexing_slicing)]
    const fn parse_bytes(s: &[u8]) -> Option<Variant> {
        if s.is_empty() || s.len() > MAX_KEY_LEN {
            return None;
        }
        let mut bytes = [0u8; MAX_KEY_LEN];
        let mut i = 0;
        while i < s.len() {
            if !key_byte(s[i], i == 0) {
                return None;
            }
            bytes[i] = s[i];
            i += 1;
        }
        Some(Variant {
            len: s.len() as u8,
            bytes,
        })
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        let bytes = self.bytes.get(..usize::from(self.len)).unwrap_or_default();
        // Only ASCII bytes are ever stored (checked by `parse_bytes`).
        core::str::from_utf8(bytes).unwrap_or_default()
    }
}

impl core::fmt::Debug for Variant {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Variant({})", self.as_str())
    }
}

/// Text that is not an arm key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not an arm key: use 1 to 31 ASCII letters, digits, '_', '-' or '.', starting with a letter or digit"
)]
pub struct UnknownVariant(pub String);

impl core::str::FromStr for Variant {
    type Err = UnknownVariant;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Variant::parse_bytes(s.as_bytes()).ok_or_else(|| UnknownVariant(s.to_owned()))
    }
}

impl core::fmt::Display for Variant {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Variant {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Variant {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Key;
        impl serde::de::Visitor<'_> for Key {
            type Value = Variant;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("an arm key")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Variant, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(Key)
    }
}

#[cfg(feature = "ssr")]
impl utoipa::PartialSchema for Variant {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX_KEY_LEN))
            .description(Some(
                "An arm's key: 1 to 31 ASCII letters, digits, '_', '-' or '.', starting with a \
                 letter or digit. The two-arm shape's arms are `control` and `treatment`.",
            ))
            .into()
    }
}

#[cfg(feature = "ssr")]
impl utoipa::ToSchema for Variant {}

/// Percent of traffic in each arm, in whole percents, with the arms' keys, in arm order
/// (the control first).
///
/// A valid allocation has 2 to 8 arms, distinct keys, every share `> 0` and the shares
/// together `<= 100` (the rest is not in the experiment). The functions here accept any
/// values without panicking: an allocation whose sum is 0 or above 100 puts nobody in the
/// experiment. Serialised as an object from key to share (`{"control": 50, "treatment": 50}`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Allocation {
    keys: [Variant; MAX_ARMS],
    shares: [u8; MAX_ARMS],
    arms: u8,
}

impl core::fmt::Debug for Allocation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Allocation {
    /// The two-arm shape: `control` and `treatment`.
    pub const fn new(control: u8, treatment: u8) -> Self {
        let mut keys = [Variant::Control; MAX_ARMS];
        keys[1] = Variant::Treatment;
        let mut shares = [0; MAX_ARMS];
        shares[0] = control;
        shares[1] = treatment;
        Self {
            keys,
            shares,
            arms: 2,
        }
    }

    /// Arms in order, each a key and its share; `None` for more than 8 arms.
    pub fn from_arms(arms: &[(Variant, u8)]) -> Option<Self> {
        if arms.len() > MAX_ARMS {
            return None;
        }
        let mut out = Self {
            keys: [Variant::Control; MAX_ARMS],
            shares: [0; MAX_ARMS],
            arms: arms.len() as u8,
        };
        for (i, (key, share)) in arms.iter().enumerate() {
            *out.keys.get_mut(i)? = *key;
            *out.shares.get_mut(i)? = *share;
        }
        Some(out)
    }

    /// How many arms.
    pub const fn len(&self) -> usize {
        self.arms as usize
    }

    /// Never: an allocation has at least the arms it was made with (0 only when built empty).
    pub const fn is_empty(&self) -> bool {
        self.arms == 0
    }

    /// The arms' keys, in order.
    pub fn keys(&self) -> &[Variant] {
        self.keys.get(..self.len()).unwrap_or_default()
    }

    /// The arms' shares, in order.
    pub fn shares(&self) -> &[u8] {
        self.shares.get(..self.len()).unwrap_or_default()
    }

    /// (key, share) per arm, in order.
    pub fn iter(&self) -> impl Iterator<Item = (Variant, u8)> + '_ {
        self.keys()
            .iter()
            .copied()
            .zip(self.shares().iter().copied())
    }

    /// The key of arm `i`.
    pub fn key(&self, i: usize) -> Option<Variant> {
        self.keys().get(i).copied()
    }

    /// The index of the arm with key `key`.
    pub fn index_of(&self, key: Variant) -> Option<usize> {
        self.keys().iter().position(|k| *k == key)
    }

    /// The share of the arm with key `key`.
    pub fn share_of(&self, key: Variant) -> Option<u8> {
        self.index_of(key)
            .and_then(|i| self.shares().get(i).copied())
    }

    /// The control's share (arm 0).
    pub fn control(&self) -> u8 {
        self.shares().first().copied().unwrap_or(0)
    }

    /// The first treatment's share (arm 1).
    pub fn treatment(&self) -> u8 {
        self.shares().get(1).copied().unwrap_or(0)
    }

    /// The shares together: the experiment's share of traffic.
    pub fn total(&self) -> u16 {
        self.shares().iter().map(|&s| u16::from(s)).sum()
    }

    /// `true` with 2 to 8 arms of distinct keys, each non-zero, together at most 100 %.
    pub fn is_valid(&self) -> bool {
        let keys = self.keys();
        (2..=MAX_ARMS).contains(&keys.len())
            && self.shares().iter().all(|&s| s > 0)
            && self.total() <= 100
            && keys
                .iter()
                .enumerate()
                .all(|(i, k)| !keys.iter().skip(i + 1).any(|o| o == k))
    }

    /// The same arms with every share multiplied by `factor` (a same-ratio ramp), or `None`
    /// when a share would pass 255.
    pub fn scaled(&self, factor: u8) -> Option<Self> {
        let mut out = *self;
        for s in out.shares.iter_mut().take(self.len()) {
            *s = s.checked_mul(factor)?;
        }
        Some(out)
    }
}

impl Serialize for Allocation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.len()))?;
        for (key, share) in self.iter() {
            map.serialize_entry(key.as_str(), &share)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Allocation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Arms;
        impl<'de> serde::de::Visitor<'de> for Arms {
            type Value = Allocation;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("an object from arm key to whole percent")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Allocation, A::Error> {
                let mut arms: Vec<(Variant, u8)> = Vec::new();
                while let Some((key, share)) = map.next_entry::<Variant, u8>()? {
                    arms.push((key, share));
                }
                Allocation::from_arms(&arms)
                    .ok_or_else(|| serde::de::Error::custom("at most 8 arms"))
            }
        }
        d.deserialize_map(Arms)
    }
}

#[cfg(feature = "ssr")]
impl utoipa::PartialSchema for Allocation {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .additional_properties(Some(
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::Integer)
                    .minimum(Some(1))
                    .maximum(Some(100)),
            ))
            .description(Some(
                "Whole percent of all traffic per arm, by arm key (`control` and `treatment` in \
                 the two-arm shape); together at most 100, the rest is not in the experiment.",
            ))
            .into()
    }
}

#[cfg(feature = "ssr")]
impl utoipa::ToSchema for Allocation {}

/// Half-open bucket ranges, one `(start, end)` per arm (`start <= end`), in arm order; arms
/// beyond the allocation's are `(0, 0)`.
///
/// With `s` the shares' sum (`1..=100`) and `P_i` the sum of the shares before arm `i`:
/// - arm `i` = `[⌊10000·P_i / s⌋, ⌊10000·P_i / s⌋ + 100·share_i)`
///
/// Each arm's range starts at its split point of the whole bucket space, so ramping every
/// arm up at the same ratio only extends the ranges and no assigned unit changes arm.
/// Ranges never overlap and never exceed 10 000 (docs/ASSIGNMENT.md proves it; tested
/// exhaustively for two and three arms). With two arms this is exactly the two-arm layout
/// `[0, 100·control)`, `[⌊10000·control/s⌋, … + 100·treatment)`.
/// If `s == 0` or `s > 100` every range is empty (`(0, 0)`).
pub fn bucket_ranges(alloc: &Allocation) -> [(u16, u16); MAX_ARMS] {
    let mut out = [(0u16, 0u16); MAX_ARMS];
    let sum = u32::from(alloc.total());
    if sum == 0 || sum > 100 {
        return out;
    }
    let buckets = u32::from(BUCKETS);
    let mut before = 0u32;
    for (range, &share) in out.iter_mut().zip(alloc.shares()) {
        let share = u32::from(share);
        let start = buckets * before / sum;
        // start + 100·share <= 10000·(before + share)/s <= 10000: the casts are lossless.
        *range = (start as u16, (start + 100 * share) as u16);
        before += share;
    }
    out
}

/// The index of the arm for a bucket, or `None` when the bucket is outside every range
/// (not in the experiment). Allocation-free: the hot path's choice.
pub fn choose_arm(bucket: u16, alloc: &Allocation) -> Option<usize> {
    let sum = u32::from(alloc.total());
    if sum == 0 || sum > 100 || bucket >= BUCKETS {
        return None;
    }
    // The arm whose split point is the last at or below the bucket is the only one whose
    // range can hold it (ranges start at increasing split points and never overlap).
    let b = u32::from(bucket);
    let buckets = u32::from(BUCKETS);
    let mut before = 0u32;
    let mut found = None;
    for (i, &share) in alloc.shares().iter().enumerate() {
        let start = buckets * before / sum;
        if start > b {
            break;
        }
        if b < start + 100 * u32::from(share) {
            found = Some(i);
        }
        before += u32::from(share);
    }
    found
}

/// The arm for a bucket, or `None` when the bucket is outside every range.
pub fn choose(bucket: u16, alloc: &Allocation) -> Option<Variant> {
    choose_arm(bucket, alloc).and_then(|i| alloc.key(i))
}

/// Assign `unit_id` in the experiment salted with `salt`: `choose(bucket(salt, unit_id), alloc)`.
pub fn assign(salt: &str, unit_id: &str, alloc: &Allocation) -> Option<Variant> {
    choose(bucket(salt, unit_id), alloc)
}

/// [`assign`] as the arm's index.
pub fn assign_arm(salt: &str, unit_id: &str, alloc: &Allocation) -> Option<usize> {
    choose_arm(bucket(salt, unit_id), alloc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(control: u8, treatment: u8) -> Allocation {
        Allocation::new(control, treatment)
    }

    fn k(shares: &[u8]) -> Allocation {
        let keys = ["control", "b", "c", "d", "e", "f", "g", "h"];
        let arms: Vec<(Variant, u8)> = shares
            .iter()
            .zip(keys)
            .map(|(&s, key)| (key.parse().unwrap(), s))
            .collect();
        Allocation::from_arms(&arms).unwrap()
    }

    fn two(alloc: Allocation) -> [(u16, u16); 2] {
        let r = bucket_ranges(&alloc);
        [r[0], r[1]]
    }

    #[test]
    fn bucket_ranges_are_the_documented_ones() {
        assert_eq!(two(a(10, 10)), [(0, 1000), (5000, 6000)]);
        assert_eq!(two(a(50, 50)), [(0, 5000), (5000, 10000)]);
        assert_eq!(two(a(90, 10)), [(0, 9000), (9000, 10000)]);
        assert_eq!(two(a(10, 20)), [(0, 1000), (3333, 5333)]);
        assert_eq!(two(a(25, 25)), [(0, 2500), (5000, 7500)]);
        assert_eq!(two(a(1, 99)), [(0, 100), (100, 10000)]);
        assert_eq!(two(a(99, 1)), [(0, 9900), (9900, 10000)]);
        assert_eq!(two(a(1, 2)), [(0, 100), (3333, 3533)]);
        let three = bucket_ranges(&k(&[10, 10, 10]));
        assert_eq!(&three[..3], &[(0, 1000), (3333, 4333), (6666, 7666)]);
        assert_eq!(&three[3..], &[(0, 0); 5]);
        let full = bucket_ranges(&k(&[40, 30, 30]));
        assert_eq!(&full[..3], &[(0, 4000), (4000, 7000), (7000, 10000)]);
    }

    #[test]
    fn matches_growthbook_float_formula() {
        // control = [0, round(c·r·10000)), treatment = [round(r·10000), +round(c·(1−r)·10000)).
        for control in 1..=100u32 {
            for treatment in 1..=(100 - control) {
                let s = f64::from(control + treatment);
                let r = f64::from(control) / s;
                let c = s / 100.0;
                let [(_, c_end), (t_start, t_end)] = two(a(control as u8, treatment as u8));
                assert_eq!(f64::from(c_end), (c * r * 10000.0).round());
                assert_eq!(
                    f64::from(t_end - t_start),
                    (c * (1.0 - r) * 10000.0).round()
                );
                // The integer start is the floor; the float formula rounds. They differ by at
                // most one bucket (only when 10000·control/s has a fractional part >= .5).
                let float_start = (r * 10000.0).round();
                assert!((f64::from(t_start) - float_start).abs() <= 1.0);
            }
        }
    }

    fn check_disjoint_exact(alloc: &Allocation) {
        let ranges = bucket_ranges(alloc);
        let mut end = 0;
        for (i, (&(s, e), &share)) in ranges.iter().zip(alloc.shares()).enumerate() {
            assert!(end <= s, "overlap at arm {i} for {alloc:?}");
            assert!(s <= e && e <= BUCKETS, "out of bounds for {alloc:?}");
            assert_eq!(
                e - s,
                100 * u16::from(share),
                "share of arm {i} for {alloc:?}"
            );
            end = e;
        }
    }

    #[test]
    fn property_all_valid_pairs_and_triples_disjoint_exact_and_in_bounds() {
        for control in 1..=100u8 {
            for treatment in 1..=(100 - control) {
                let alloc = a(control, treatment);
                assert!(alloc.is_valid());
                let [(c0, _), _] = two(alloc);
                assert_eq!(c0, 0);
                check_disjoint_exact(&alloc);
                for third in 1..=(100 - control - treatment) {
                    check_disjoint_exact(&k(&[control, treatment, third]));
                }
            }
        }
        // Eight arms, some shapes.
        for shares in [
            [1u8; 8],
            [12; 8],
            [5, 10, 15, 20, 5, 10, 15, 20],
            [93, 1, 1, 1, 1, 1, 1, 1],
        ] {
            let alloc = k(&shares);
            assert!(alloc.is_valid());
            check_disjoint_exact(&alloc);
        }
    }

    #[test]
    fn property_same_ratio_ramps_are_nested() {
        fn gcd(a: u32, b: u32) -> u32 {
            if b == 0 { a } else { gcd(b, a % b) }
        }
        // Every valid allocation is k·(p, q) for a reduced ratio p:q. Checking each step
        // k -> k+1 is nested covers every same-ratio ramp by transitivity.
        let mut checked = 0;
        for p in 1..=99u32 {
            for q in 1..=(100 - p) {
                if gcd(p, q) != 1 {
                    continue;
                }
                let mut k = 1;
                while (k + 1) * (p + q) <= 100 {
                    let small = bucket_ranges(&a((k * p) as u8, (k * q) as u8));
                    let big = bucket_ranges(&a(((k + 1) * p) as u8, ((k + 1) * q) as u8));
                    for (s, b) in small.iter().zip(big.iter()).take(2) {
                        assert!(b.0 <= s.0 && s.1 <= b.1, "{p}:{q} k={k}");
                    }
                    checked += 1;
                    k += 1;
                }
            }
        }
        assert!(checked > 100);
    }

    #[test]
    fn property_same_ratio_ramps_of_three_arms_are_nested() {
        let mut checked = 0;
        for p in 1..=33u8 {
            for q in 1..=33u8 {
                for r in 1..=33u8 {
                    let base = k(&[p, q, r]);
                    let mut factor = 2u8;
                    while u16::from(factor) * base.total() <= 100 {
                        let small = bucket_ranges(&base.scaled(factor - 1).unwrap());
                        let big = bucket_ranges(&base.scaled(factor).unwrap());
                        for (s, b) in small.iter().zip(big.iter()).take(3) {
                            assert!(b.0 <= s.0 && s.1 <= b.1, "{p}:{q}:{r} ×{factor}");
                        }
                        checked += 1;
                        factor += 1;
                    }
                }
            }
        }
        assert!(checked > 1000);
    }

    #[test]
    fn choose_agrees_with_the_ranges_for_every_bucket() {
        for alloc in [
            a(10, 20),
            a(50, 50),
            k(&[10, 10, 10]),
            k(&[7, 13, 21, 3]),
            k(&[12; 8]),
        ] {
            let ranges = bucket_ranges(&alloc);
            for b in 0..BUCKETS {
                let expected = ranges
                    .iter()
                    .take(alloc.len())
                    .position(|&(s, e)| s <= b && b < e);
                assert_eq!(choose_arm(b, &alloc), expected, "{alloc:?} bucket {b}");
            }
        }
    }

    #[test]
    fn never_panics_on_any_u8_pair() {
        for control in 0..=u8::MAX {
            for treatment in 0..=u8::MAX {
                let alloc = a(control, treatment);
                let [(c0, c1), (t0, t1)] = two(alloc);
                assert!(c0 <= c1 && c1 <= t0 && t0 <= t1 && t1 <= BUCKETS);
                for b in [0, 1, 4999, 5000, 9999, 10000, u16::MAX] {
                    let _ = choose(b, &alloc);
                }
            }
        }
    }

    #[test]
    fn invalid_allocations_exclude_everyone() {
        for alloc in [a(0, 0), a(60, 41), a(255, 255), a(100, 1)] {
            assert!(!alloc.is_valid());
            assert_eq!(two(alloc), [(0, 0), (0, 0)]);
            for b in 0..BUCKETS {
                assert_eq!(choose(b, &alloc), None);
            }
        }
        // A single zero arm is well defined: that arm is simply empty.
        assert_eq!(two(a(0, 50)), [(0, 0), (0, 5000)]);
        assert_eq!(two(a(30, 0)), [(0, 3000), (10000, 10000)]);
        assert!(!a(0, 50).is_valid());
        // One arm, or the same key twice, is not an experiment.
        assert!(!k(&[50]).is_valid());
        let twice =
            Allocation::from_arms(&[(Variant::Control, 10), (Variant::Control, 10)]).unwrap();
        assert!(!twice.is_valid());
        assert!(Allocation::from_arms(&[(Variant::Control, 1); 9]).is_none());
    }

    #[test]
    fn choose_includes_a_ranges_start_and_excludes_its_end() {
        let alloc = a(10, 20); // [0,1000) [3333,5333)
        assert_eq!(choose(0, &alloc), Some(Variant::Control));
        assert_eq!(choose(999, &alloc), Some(Variant::Control));
        assert_eq!(choose(1000, &alloc), None);
        assert_eq!(choose(3332, &alloc), None);
        assert_eq!(choose(3333, &alloc), Some(Variant::Treatment));
        assert_eq!(choose(5332, &alloc), Some(Variant::Treatment));
        assert_eq!(choose(5333, &alloc), None);
        assert_eq!(choose(9999, &alloc), None);
        assert_eq!(choose(10_000, &a(50, 50)), None);
        assert_eq!(choose(u16::MAX, &a(50, 50)), None);
    }

    #[test]
    fn assign_uses_bucket() {
        for i in 0..1_000 {
            let id = format!("user-{i}");
            let alloc = k(&[30, 30, 30]);
            assert_eq!(
                assign("f00d", &id, &alloc),
                choose(bucket("f00d", &id), &alloc)
            );
        }
        assert_eq!(assign("f00d", "anyone", &a(0, 0)), None);
    }

    #[test]
    fn keys_are_checked_and_serialise_as_text() {
        assert_eq!(
            serde_json::to_string(&Variant::Control).unwrap(),
            "\"control\""
        );
        assert_eq!(
            serde_json::from_str::<Variant>("\"treatment\"").unwrap(),
            Variant::Treatment
        );
        for good in ["b", "gpt-4o", "v2.1", "Arm_3", "x".repeat(31).as_str()] {
            assert_eq!(good.parse::<Variant>().unwrap().as_str(), good);
        }
        for bad in [
            "",
            "-b",
            "_b",
            "a b",
            "é",
            "a/b",
            "x".repeat(32).as_str(),
            "a\u{0}",
        ] {
            assert!(bad.parse::<Variant>().is_err(), "{bad:?}");
            assert!(serde_json::from_value::<Variant>(serde_json::json!(bad)).is_err());
        }
        assert_eq!(Variant::Treatment.to_string(), "treatment");
    }

    #[test]
    fn allocation_serialises_as_an_object_in_arm_order() {
        let alloc: Allocation = serde_json::from_str(r#"{"control":10,"treatment":20}"#).unwrap();
        assert_eq!(alloc, a(10, 20));
        let three = k(&[20, 30, 10]);
        let text = serde_json::to_string(&three).unwrap();
        assert_eq!(text, r#"{"control":20,"b":30,"c":10}"#);
        assert_eq!(serde_json::from_str::<Allocation>(&text).unwrap(), three);
        assert_eq!(three.index_of("c".parse().unwrap()), Some(2));
        assert_eq!(three.share_of("b".parse().unwrap()), Some(30));
        assert_eq!(three.total(), 60);
    }
}
