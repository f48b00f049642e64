//! The recommendation: deploy the treatment, keep control, or inconclusive, from what the
//! computation found. The order of the rules is the decision (docs/STATISTICS.md,
//! "Recommendation").

use super::model::Recommendation;

/// What the recommendation is decided from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Findings {
    /// The arms' sizes do not match the allocation: nothing can be trusted.
    pub sample_ratio_mismatch: bool,
    /// The criterion's metric is significantly worse (superiority criteria only).
    pub primary_worse: bool,
    /// A guardrail metric is significantly worse.
    pub guardrail_breached: bool,
    /// Every arm has `minSamplesPerVariant` users.
    pub samples_ok: bool,
    /// The experiment ran `minDuration` days.
    pub duration_ok: bool,
    /// The success criterion: met, confidently not met, or undecided.
    pub criterion_met: Option<bool>,
}

/// A mismatch makes it inconclusive whatever else holds; a worse primary metric, or a
/// breached guardrail once the minimum sample is in, keeps control; before the minimums it
/// is inconclusive; then the criterion decides, and a met criterion deploys only with no
/// guardrail breached.
pub(super) fn recommend(f: Findings) -> Recommendation {
    if f.sample_ratio_mismatch {
        Recommendation::Inconclusive
    } else if f.primary_worse || (f.guardrail_breached && f.samples_ok) {
        Recommendation::KeepControl
    } else if !f.samples_ok || !f.duration_ok {
        Recommendation::Inconclusive
    } else {
        match f.criterion_met {
            Some(true) if !f.guardrail_breached => Recommendation::DeployTreatment,
            Some(false) => Recommendation::KeepControl,
            _ => Recommendation::Inconclusive,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_good() -> Findings {
        Findings {
            sample_ratio_mismatch: false,
            primary_worse: false,
            guardrail_breached: false,
            samples_ok: true,
            duration_ok: true,
            criterion_met: Some(true),
        }
    }

    #[test]
    fn a_met_criterion_deploys_only_when_nothing_else_objects() {
        assert_eq!(recommend(all_good()), Recommendation::DeployTreatment);
        let objections = [
            Findings {
                sample_ratio_mismatch: true,
                ..all_good()
            },
            Findings {
                primary_worse: true,
                ..all_good()
            },
            Findings {
                guardrail_breached: true,
                ..all_good()
            },
            Findings {
                samples_ok: false,
                ..all_good()
            },
            Findings {
                duration_ok: false,
                ..all_good()
            },
        ];
        for f in objections {
            assert_ne!(recommend(f), Recommendation::DeployTreatment, "{f:?}");
        }
    }

    #[test]
    fn a_sample_ratio_mismatch_is_inconclusive_whatever_else_holds() {
        for met in [Some(true), Some(false), None] {
            let f = Findings {
                sample_ratio_mismatch: true,
                primary_worse: true,
                guardrail_breached: true,
                criterion_met: met,
                ..all_good()
            };
            assert_eq!(recommend(f), Recommendation::Inconclusive);
        }
    }

    #[test]
    fn a_breach_keeps_control_once_the_minimum_sample_is_in_and_not_before() {
        let breach = Findings {
            guardrail_breached: true,
            criterion_met: None,
            ..all_good()
        };
        assert_eq!(recommend(breach), Recommendation::KeepControl);
        let early = Findings {
            samples_ok: false,
            ..breach
        };
        assert_eq!(recommend(early), Recommendation::Inconclusive);
        // A worse primary metric keeps control even before the minimums.
        let worse = Findings {
            primary_worse: true,
            samples_ok: false,
            ..all_good()
        };
        assert_eq!(recommend(worse), Recommendation::KeepControl);
    }

    #[test]
    fn after_the_minimums_the_criterion_decides() {
        let not_met = Findings {
            criterion_met: Some(false),
            ..all_good()
        };
        assert_eq!(recommend(not_met), Recommendation::KeepControl);
        let undecided = Findings {
            criterion_met: None,
            ..all_good()
        };
        assert_eq!(recommend(undecided), Recommendation::Inconclusive);
        let too_short = Findings {
            duration_ok: false,
            criterion_met: Some(false),
            ..all_good()
        };
        assert_eq!(recommend(too_short), Recommendation::Inconclusive);
    }
}
