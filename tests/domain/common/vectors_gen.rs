//! Generator of the cross-SDK test vectors in `fixtures/assignment-vectors.json`.
//! Shared by `examples/make_vectors.rs` (writes the file) and `tests/vectors.rs` (checks that
//! the committed file is up to date).

use serde::{Deserialize, Serialize};
use verdict::domain::assignment::{
    Allocation, Variant, assign, bucket, in_rollout, rollout_bucket,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Vector {
    pub salt: String,
    pub user_id: String,
    pub allocation: Allocation,
    pub bucket: u16,
    pub variant: Option<Variant>,
    pub rollout_percentage: u8,
    pub rollout_bucket: u16,
    pub in_rollout: bool,
}

impl Vector {
    pub fn compute(
        salt: &str,
        user_id: &str,
        allocation: Allocation,
        rollout_percentage: u8,
    ) -> Self {
        Self {
            salt: salt.to_owned(),
            user_id: user_id.to_owned(),
            allocation,
            bucket: bucket(salt, user_id),
            variant: assign(salt, user_id, &allocation),
            rollout_percentage,
            rollout_bucket: rollout_bucket(salt, user_id),
            in_rollout: in_rollout(salt, user_id, rollout_percentage),
        }
    }
}

const SALTS: [&str; 6] = [
    "5f3a9c0e7b1d4a86",
    "",
    "0",
    "deadbeefcafebabe0123456789abcdef",
    "a1b2c3",
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
];

const ALLOCATIONS: [(u8, u8); 12] = [
    (50, 50),
    (10, 10),
    (25, 25),
    (90, 10),
    (10, 20),
    (1, 99),
    (33, 33),
    (1, 1),
    (45, 55),
    (20, 30),
    (2, 1),
    (5, 90),
];

const ROLLOUTS: [u8; 9] = [0, 1, 10, 25, 50, 75, 99, 100, 37];

/// Unit ids exercising edge cases: empty, whitespace, ':' separators, Unicode (CJK, emoji,
/// combining marks, RTL), control characters, and every XXH3 input-length class
/// (0, 1–3, 4–8, 9–16, 17–128, 129–240, >240 bytes) including 1,000+ character ids.
fn special_ids() -> Vec<String> {
    let mut ids: Vec<String> = [
        "",
        " ",
        "\t",
        "\n",
        "  leading",
        "trailing  ",
        "user id with spaces",
        ":",
        "::",
        "a:b",
        ":leading-colon",
        "trailing-colon:",
        "user:42:extra",
        "5f3a9c0e7b1d4a86:user-1",
        "user-1",
        "User-1",
        "42",
        "00000000-0000-0000-0000-000000000000",
        "3fa85f64-5717-4562-b3fc-2c963f66afa6",
        "alice@example.com",
        "用户一号",
        "ユーザー",
        "사용자",
        "漢字かなカナ",
        "🙂",
        "👩\u{200d}💻",
        "🇺🇸🇯🇵",
        "e\u{301}",
        "\u{e9}",
        "A\u{30a}",
        "\u{c5}",
        "Z\u{351}\u{34d}\u{32b}a\u{305}\u{316}lgo",
        "مرحبا",
        "שלום",
        "\u{0}",
        "tab\tsep",
        "quote\"and\\backslash",
        "\u{feff}bom",
        "\u{10ffff}",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    // Length classes and boundaries (bytes of the id alone; the salt and ':' add more).
    for len in [
        1, 3, 4, 8, 9, 16, 17, 100, 128, 129, 200, 223, 240, 241, 256, 300,
    ] {
        ids.push(
            "abcdefghijklmnopqrstuvwxyz0123456789"
                .chars()
                .cycle()
                .take(len)
                .collect(),
        );
    }
    ids.push("x".repeat(1_000));
    ids.push("漢".repeat(1_024));
    ids.push("🙂 a:b ".repeat(200));
    ids.push(
        (0..1_500)
            .map(|i| char::from(b'0' + (i % 10) as u8))
            .collect(),
    );
    ids
}

/// All vectors, deterministic.
pub fn vectors() -> Vec<Vector> {
    let mut out = Vec::new();
    let mut k = 0usize;
    let mut next = |salt: &str, id: &str, out: &mut Vec<Vector>| {
        let (c, t) = ALLOCATIONS[k % ALLOCATIONS.len()];
        let rollout = ROLLOUTS[k % ROLLOUTS.len()];
        out.push(Vector::compute(salt, id, Allocation::new(c, t), rollout));
        k += 1;
    };
    let specials = special_ids();
    // Every special id under two salts (one of them the empty salt for a third of them).
    for (i, id) in specials.iter().enumerate() {
        next(SALTS[0], id, &mut out);
        next(SALTS[1 + i % (SALTS.len() - 1)], id, &mut out);
    }
    // Plain ids under every salt.
    for i in 0..190 {
        let salt = SALTS[i % SALTS.len()];
        next(salt, &format!("user-{i}"), &mut out);
    }
    k_arm_vectors(&mut out);
    out
}

/// Allocations of 3 to 8 arms (shares in arm order; keys `control`, `b`, `c`, …).
const K_ALLOCATIONS: [&[u8]; 9] = [
    &[33, 33, 34],
    &[10, 10, 10, 10, 10, 10],
    &[40, 30, 20, 10],
    &[1, 2, 3],
    &[5, 10, 15, 20, 25],
    &[12, 12, 12, 12, 12, 12, 12, 16],
    &[1, 1, 1, 1, 1, 1, 1, 1],
    &[14, 14, 14, 14, 14, 14, 16],
    &[20, 7, 13, 3],
];

/// A k-arm allocation with keys `control`, `b`, `c`, … .
pub fn k_arms(shares: &[u8]) -> Allocation {
    let keys = ["control", "b", "c", "d", "e", "f", "g", "h"];
    let arms: Vec<(verdict::domain::assignment::Variant, u8)> = shares
        .iter()
        .zip(keys)
        .filter_map(|(&s, k)| Some((k.parse().ok()?, s)))
        .collect();
    Allocation::from_arms(&arms).unwrap_or(Allocation::new(0, 0))
}

/// Vectors of k-arm allocations (3 to 8 arms), after the two-arm ones.
fn k_arm_vectors(out: &mut Vec<Vector>) {
    let specials = special_ids();
    for i in 0..160usize {
        let shares = K_ALLOCATIONS[i % K_ALLOCATIONS.len()];
        let rollout = ROLLOUTS[i % ROLLOUTS.len()];
        let id = if i % 4 == 0 {
            specials[(i / 4) % specials.len()].clone()
        } else {
            format!("arm-user-{i}")
        };
        out.push(Vector::compute(
            SALTS[i % SALTS.len()],
            &id,
            k_arms(shares),
            rollout,
        ));
    }
}

/// The fixture file's exact contents.
pub fn vectors_json() -> String {
    let mut s = serde_json::to_string_pretty(&vectors()).unwrap_or_default();
    s.push('\n');
    s
}

/// A case of `fixtures/layer-vectors.json`: a user's bucket in a layer, whether it is in an
/// experiment's slice, and then the arm (the experiment's own salt and allocation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LayerVector {
    /// The layer's id (`target:<targetType>/<targetId>` or `named:<tenant>/<key>`).
    pub layer: String,
    /// `"layer:" + layer`.
    pub layer_salt: String,
    pub user_id: String,
    pub layer_bucket: u16,
    pub slice: verdict::domain::experiment::LayerSlice,
    pub in_slice: bool,
    /// The experiment's salt and allocation.
    pub salt: String,
    pub allocation: Allocation,
    /// The arm: `null` outside the slice, or outside the allocation.
    pub variant: Option<Variant>,
}

const LAYERS: [&str; 8] = [
    "target:prompt/p1",
    "target:context_template/risk-analysis",
    "target:model_selection/用户一号",
    "named:acme/checkout",
    "named:system/checkout",
    "named:tenant:with:colons/a.b-c_9",
    "named:acme/",
    "target:grounding_threshold/",
];

const SLICES: [(u16, u16); 7] = [
    (0, 10000),
    (0, 5000),
    (5000, 10000),
    (2500, 2600),
    (0, 100),
    (9900, 10000),
    (3000, 7000),
];

/// All layer vectors, deterministic.
pub fn layer_vectors() -> Vec<LayerVector> {
    use verdict::domain::experiment::{LayerSlice, in_slice, layer_bucket, layer_salt};
    let specials = special_ids();
    let mut out = Vec::new();
    for i in 0..120usize {
        let layer = LAYERS[i % LAYERS.len()];
        let (start, end) = SLICES[(i / LAYERS.len()) % SLICES.len()];
        let slice = LayerSlice { start, end };
        let user_id = if i % 3 == 0 {
            specials[(i / 3) % specials.len()].clone()
        } else {
            format!("layer-user-{i}")
        };
        let ls = layer_salt(layer);
        let allocation = if i % 5 == 0 {
            k_arms(K_ALLOCATIONS[i % K_ALLOCATIONS.len()])
        } else {
            let (c, t) = ALLOCATIONS[i % ALLOCATIONS.len()];
            Allocation::new(c, t)
        };
        let salt = SALTS[i % SALTS.len()].to_owned();
        let inside = in_slice(&ls, &user_id, slice);
        out.push(LayerVector {
            layer: layer.to_owned(),
            layer_bucket: layer_bucket(&ls, &user_id),
            layer_salt: ls,
            slice,
            in_slice: inside,
            variant: if inside {
                assign(&salt, &user_id, &allocation)
            } else {
                None
            },
            salt,
            allocation,
            user_id,
        });
    }
    out
}

/// The layer fixture file's exact contents.
pub fn layer_vectors_json() -> String {
    let mut s = serde_json::to_string_pretty(&layer_vectors()).unwrap_or_default();
    s.push('\n');
    s
}
