//! The data of the charts and of the descriptive request-level latency: the latency
//! histogram, the quality time series with its user-level band, request percentiles.

use super::model::*;
use crate::domain::assignment::Variant;
use crate::domain::experiment::Metric;
use crate::domain::stats::{QuantileSketch, Summary, quantile_difference, quantile_estimate};

use super::compare::insufficient_text;
use super::rows::*;

pub(super) fn latency_distribution(users: &[UserRow]) -> Distribution {
    let (c, t) = values(users, Metric::Latency);
    let all: Vec<f64> = c
        .iter()
        .chain(t.iter())
        .copied()
        .filter(|v| *v >= 0.0)
        .collect();
    let (Some(min), Some(max)) = (
        all.iter().copied().reduce(f64::min),
        all.iter().copied().reduce(f64::max),
    ) else {
        return Distribution {
            scale: Scale::Linear,
            ..Distribution::default()
        };
    };
    const BINS: usize = 20;
    let heavy = min > 0.0 && max / min > 10.0;
    let edges: Vec<f64> = if max <= min {
        vec![min, min + 1.0]
    } else if heavy {
        let (a, b) = (min.ln(), max.ln());
        (0..=BINS)
            .map(|i| (a + (b - a) * i as f64 / BINS as f64).exp())
            .collect()
    } else {
        (0..=BINS)
            .map(|i| min + (max - min) * i as f64 / BINS as f64)
            .collect()
    };
    let bins = edges.len() - 1;
    let count = |vals: &[f64]| {
        let mut out = vec![0u64; bins];
        for &v in vals {
            let i = edges
                .partition_point(|e| *e <= v)
                .saturating_sub(1)
                .min(bins - 1);
            if let Some(slot) = out.get_mut(i) {
                *slot += 1;
            }
        }
        out
    };
    Distribution {
        control: count(&c),
        treatment: count(&t),
        edges,
        scale: if heavy { Scale::Log } else { Scale::Linear },
    }
}

/// The design effect of an arm's event-level mean quality: the cluster-robust (by user)
/// variance of the ratio mean Σs_u / Σn_u, G/(G − 1)·Σ(s_u − m̄·n_u)² / N², over the
/// variance if the N events were independent, σ²/N (σ² the events' variance from the
/// daily rollups). At least 1: the band is never narrower than the event-level one.
pub(super) fn design_effect(users: &[UserRow], days: &[DayRow], variant: Variant) -> Option<f64> {
    let (n_u, s_u): (Vec<f64>, Vec<f64>) = users
        .iter()
        .filter(|u| u.variant == variant && u.sums[0].0 > 0)
        .map(|u| (u.sums[0].0 as f64, u.sums[0].1))
        .unzip();
    let g = n_u.len() as f64;
    let n: f64 = n_u.iter().sum();
    if g < 2.0 || n < 2.0 {
        return None;
    }
    let mean = s_u.iter().sum::<f64>() / n;
    let cluster = g / (g - 1.0)
        * n_u
            .iter()
            .zip(&s_u)
            .map(|(n, s)| (s - mean * n).powi(2))
            .sum::<f64>()
        / (n * n);
    let events = days
        .iter()
        .filter(|d| d.variant == variant)
        .fold(Summary::EMPTY, |acc, d| {
            let (n, mean, m2) = d.quality;
            acc.merge(&Summary { n, mean, m2 })
        });
    let naive = events.variance()? / n;
    finite(cluster / naive)
        .filter(|_| naive > 0.0)
        .map(|d| d.max(1.0))
}

pub(super) fn quality_over_time(
    users: &[UserRow],
    days: &[DayRow],
    confidence: f64,
) -> Vec<DayPoint> {
    let z = crate::domain::stats::normal_quantile(0.5 + confidence / 2.0).unwrap_or(1.96);
    let deff = [
        design_effect(users, days, Variant::Control),
        design_effect(users, days, Variant::Treatment),
    ];
    let mut points: Vec<DayPoint> = days
        .iter()
        .filter(|d| d.quality.0 > 0)
        .map(|d| {
            let (n, mean, m2) = d.quality;
            let design_effect = deff[usize::from(d.variant == Variant::Treatment)];
            let inflate = design_effect.unwrap_or(1.0);
            let half = (n > 1)
                .then(|| z * (inflate * m2 / (n as f64 - 1.0)).max(0.0).sqrt() / (n as f64).sqrt())
                .and_then(finite);
            DayPoint {
                day: d.day,
                variant: d.variant,
                n,
                mean,
                lower: half.map(|h| mean - h),
                upper: half.map(|h| mean + h),
                design_effect,
            }
        })
        .collect();
    points.sort_by(|a, b| (a.day, &a.variant).cmp(&(b.day, &b.variant)));
    points
}

/// The relative accuracy of the request-level sketches.
pub(super) const SKETCH_ACCURACY: f64 = 0.01;

/// Request-level latency percentiles per arm and the p95 difference (descriptive).
pub(super) fn request_latency(sketches: &[QuantileSketch; 2], confidence: f64) -> RequestLatency {
    let arm = |s: &QuantileSketch| RequestQuantiles {
        requests: s.count(),
        p50: quantile_estimate(s, 0.5, confidence).ok(),
        p95: quantile_estimate(s, 0.95, confidence).ok(),
        p99: quantile_estimate(s, 0.99, confidence).ok(),
    };
    let [c, t] = sketches;
    let diff = quantile_difference(c, t, 0.95, confidence);
    RequestLatency {
        control: arm(c),
        treatment: arm(t),
        note: diff.as_ref().err().map(insufficient_text),
        p95_difference: diff.ok(),
        relative_accuracy: SKETCH_ACCURACY,
    }
}
