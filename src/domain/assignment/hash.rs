//! Deterministic bucketing: `XXH3-64(seed 0)` over `salt ‖ ':' ‖ unit_id`, modulo 10 000.

use xxhash_rust::xxh3::{Xxh3Default, xxh3_64};

/// Number of buckets. A bucket is an integer in `0..BUCKETS`; one bucket is 0.01 % of traffic.
pub const BUCKETS: u16 = 10_000;

/// Separator byte placed between the salt and the unit id (`':'`).
pub const SEPARATOR: u8 = b':';

/// Suffix appended to an experiment salt to derive the independent rollout salt.
pub const ROLLOUT_SALT_SUFFIX: &str = "/rollout";

/// Inputs up to this many bytes are hashed one-shot from a stack buffer; longer ones are
/// streamed. Both paths produce the same XXH3-64 value (tested).
const STACK_BUF: usize = 256;

/// XXH3-64 with seed 0 over the concatenation of `parts`, without allocating.
fn xxh3_concat(parts: &[&[u8]]) -> u64 {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    if total <= STACK_BUF {
        let mut buf = [0u8; STACK_BUF];
        let mut len = 0usize;
        for part in parts {
            // `total <= STACK_BUF`, so every range below is in bounds; `get_mut` keeps the
            // code panic-free regardless.
            if let Some(dst) = buf.get_mut(len..len + part.len()) {
                dst.copy_from_slice(part);
            }
            len += part.len();
        }
        xxh3_64(buf.get(..len).unwrap_or_default())
    } else {
        let mut hasher = Xxh3Default::new();
        for part in parts {
            hasher.update(part);
        }
        hasher.digest()
    }
}

/// Bucket of `unit_id` for the given `salt`: `XXH3_64(salt ‖ 0x3A ‖ unit_id) % 10000`.
///
/// The hash uses seed 0 and the default secret; strings are hashed as their UTF-8 bytes
/// with no normalization. The result is always in `0..10000`.
pub fn bucket(salt: &str, unit_id: &str) -> u16 {
    let h = xxh3_concat(&[salt.as_bytes(), &[SEPARATOR], unit_id.as_bytes()]);
    // `h % 10000 < 10000 <= u16::MAX`, so the cast is lossless.
    (h % u64::from(BUCKETS)) as u16
}

/// Bucket used for rollouts: `bucket(salt + "/rollout", unit_id)`, computed without allocating.
pub fn rollout_bucket(salt: &str, unit_id: &str) -> u16 {
    let h = xxh3_concat(&[
        salt.as_bytes(),
        ROLLOUT_SALT_SUFFIX.as_bytes(),
        &[SEPARATOR],
        unit_id.as_bytes(),
    ]);
    (h % u64::from(BUCKETS)) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(salt: &str, unit_id: &str) -> u16 {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(salt.as_bytes());
        bytes.push(b':');
        bytes.extend_from_slice(unit_id.as_bytes());
        (xxh3_64(&bytes) % 10_000) as u16
    }

    #[test]
    fn known_values_match_reference_concatenation() {
        // Values cross-checked with Python `xxhash.xxh3_64_intdigest` (see tests/fixtures/).
        assert_eq!(xxh3_64(b""), 0x2D06_8005_38D3_94C2);
        assert_eq!(bucket("", ""), reference("", ""));
        assert_eq!(bucket("a1b2c3", "user-1"), 555);
        assert_eq!(bucket("a1b2c3", "user-1"), reference("a1b2c3", "user-1"));
    }

    #[test]
    fn always_in_range() {
        for i in 0..5_000 {
            let b = bucket("deadbeef", &format!("u{i}"));
            assert!(b < BUCKETS);
        }
    }

    #[test]
    fn deterministic_and_salt_sensitive() {
        assert_eq!(bucket("abc", "user"), bucket("abc", "user"));
        let differing = (0..200)
            .filter(|i| {
                let id = format!("user-{i}");
                bucket("abc", &id) != bucket("abd", &id)
            })
            .count();
        assert!(
            differing > 190,
            "salt should re-randomise buckets: {differing}"
        );
    }

    #[test]
    fn stack_and_streaming_paths_agree_around_the_boundary() {
        let salt = "0123456789abcdef";
        for len in 0..(STACK_BUF + 300) {
            let id: String = (0..len)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            assert_eq!(bucket(salt, &id), reference(salt, &id), "len {len}");
        }
        // Also multi-byte characters, which straddle the boundary mid-character.
        let id = "漢字🙂é".repeat(100);
        assert_eq!(bucket(salt, &id), reference(salt, &id));
    }

    #[test]
    fn rollout_bucket_equals_bucket_with_suffixed_salt() {
        for i in 0..500 {
            let id = format!("user-{i}");
            assert_eq!(rollout_bucket("cafe", &id), bucket("cafe/rollout", &id));
        }
        let long = "x".repeat(1_000);
        assert_eq!(rollout_bucket("cafe", &long), bucket("cafe/rollout", &long));
    }

    #[test]
    fn separator_is_part_of_the_input() {
        // Same concatenated bytes => same bucket: documents that ':' is a plain byte, and why
        // salts must not contain ':' (server-generated hex salts never do).
        assert_eq!(bucket("ab", "c:d"), bucket("ab:c", "d"));
    }
}
