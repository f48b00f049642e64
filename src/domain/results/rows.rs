//! What the results are computed from: one row per user, the daily rollups, and what is
//! observed of an experiment at one look.

use super::model::*;
use crate::domain::assignment::Variant;
use crate::domain::experiment::Metric;
use crate::domain::stats::QuantileSketch;
use chrono::NaiveDate;

/// One user's rollup (spec's analysis unit).
#[derive(Debug, Clone, PartialEq)]
pub struct UserRow {
    pub variant: Variant,
    pub events: u64,
    pub errors: u64,
    /// (count, sum) of quality, citation quality, latency (ms), tokens, cost.
    pub sums: [(u64, f64); 5],
    pub feedback: Feedback,
    /// The user's pre-experiment value of the primary metric (CUPED), when sent.
    pub covariate: Option<f64>,
}

/// One day and arm of event-level quality: (n, mean, M2).
#[derive(Debug, Clone, PartialEq)]
pub struct DayRow {
    pub day: NaiveDate,
    pub variant: Variant,
    pub quality: (u64, f64, f64),
}

impl UserRow {
    /// This user's value of `metric`: the mean of their events' values.
    pub fn value(&self, metric: Metric) -> Option<f64> {
        let mean = |(n, sum): (u64, f64)| (n > 0).then(|| sum / n as f64);
        match metric {
            Metric::Quality => mean(self.sums[0]),
            Metric::CitationQuality => mean(self.sums[1]),
            Metric::Latency => mean(self.sums[2]),
            Metric::TokensUsed => mean(self.sums[3]),
            Metric::Cost => mean(self.sums[4]),
            Metric::Satisfaction => self.feedback.rate(),
            Metric::ErrorRate => (self.events > 0).then(|| self.errors as f64 / self.events as f64),
        }
    }
}

/// Values of `metric` per arm, over users who have one.
pub(super) fn values(users: &[UserRow], metric: Metric) -> (Vec<f64>, Vec<f64>) {
    let mut c = Vec::new();
    let mut t = Vec::new();
    for u in users {
        if let Some(v) = u.value(metric).and_then(finite) {
            if u.variant == Variant::Control {
                c.push(v);
            } else if u.variant == Variant::Treatment {
                t.push(v);
            }
        }
    }
    (c, t)
}

/// What is observed of an experiment at one look.
#[derive(Debug, Clone, Copy, Default)]
pub struct Observed<'a> {
    /// One row per user with events.
    pub users: &'a [UserRow],
    /// Daily event-level rollups (the time series).
    pub days: &'a [DayRow],
    /// Users assigned to (control, treatment), from the assignment bookkeeping: the
    /// denominator of the sample-ratio check. `None` when not known (then users with
    /// events are counted).
    pub assigned: Option<[u64; 2]>,
    /// Users whose events name both arms, left out of `users` (reported only).
    pub users_in_both_arms: u64,
    /// The arms' request-level latency sketches (control, treatment), when read.
    pub latency: Option<&'a [QuantileSketch; 2]>,
}

pub(super) fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}
