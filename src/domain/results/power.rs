//! The power of a running experiment: users each arm needs for the criterion as tested
//! (sequential, one-sided, the threshold as the null, the MDE beyond it), from control's
//! spread so far once it has 30 users (the plan's prior before), and when the arm that fills
//! last reaches it at the rate it filled so far (`plan::days_to_complete`, the wizard
//! estimate's rule too).

use super::compare::{Compared, insufficient_text};
use super::model::PowerEstimate;
use super::plan::{self, Plan};
use crate::domain::experiment::Experiment;
use chrono::{DateTime, Utc};

/// The power estimate of `e` at `now`, with `primary` the criterion metric's comparison and
/// `samples` the users of (control, treatment).
pub(super) fn estimate(
    e: &Experiment,
    plan: &Plan,
    primary: Option<&Compared>,
    samples: [u64; 2],
    now: DateTime<Utc>,
) -> PowerEstimate {
    let min_samples = u64::from(e.spec.min_samples_per_variant);
    let observed = primary.filter(|p| p.control.n >= 30);
    let sc = &e.spec.success_criteria;
    let (sample_size, basis) =
        match observed.and_then(|p| Some((p.control.mean, p.control.std_dev()?))) {
            Some((m, s)) => (plan::required_for(sc, m, s), "observed"),
            None => (
                plan::required_for(sc, plan.assumed.0, plan.assumed.1),
                "prior",
            ),
        };
    let required = sample_size
        .as_ref()
        .ok()
        .map(|s| s.per_variant.max(min_samples));
    let estimated_end_date = e.start_date.map(|start| {
        let min_days = f64::from(e.spec.min_duration);
        let elapsed = (now - start).num_seconds().max(1) as f64 / 86_400.0;
        // The arm that fills last, at the rate it filled so far.
        let per_day = samples[0].min(samples[1]) as f64 / elapsed;
        let days = required
            .and_then(|req| plan::days_to_complete(req, per_day, min_days))
            .unwrap_or(min_days);
        plan::after_days(start, days)
    });
    PowerEstimate {
        required_per_variant: required,
        basis: basis.into(),
        estimated_end_date,
        note: sample_size.err().map(|e| insufficient_text(&e)),
        planned_per_variant: Some(plan.per_variant),
        minimum_detectable_effect: Some(plan.mde),
        alternative: Some(plan.null + plan.mde),
        test: "sequential".into(),
    }
}
