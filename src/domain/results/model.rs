//! The results report: the spec's shape (GET …/results), plus the full detail.

use crate::domain::ExperimentStatus;
use crate::domain::assignment::Variant;
use crate::domain::experiment::Metric;
use crate::domain::stats::{Direction, Interval, QuantileDifference, QuantileEstimate, SrmCheck};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// deploy_treatment, keep_control or inconclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Recommendation {
    DeployTreatment,
    KeepControl,
    Inconclusive,
}

/// Mean and p95, as the spec's results route shows a metric.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MeanP95 {
    pub mean: Option<f64>,
    pub p95: Option<f64>,
}

/// Feedback counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Feedback {
    pub positive: u64,
    pub negative: u64,
    pub neutral: u64,
}

impl Feedback {
    pub fn total(&self) -> u64 {
        self.positive + self.negative + self.neutral
    }

    /// Positive share of all feedback; `None` without feedback.
    pub fn rate(&self) -> Option<f64> {
        let total = self.total();
        (total > 0).then(|| self.positive as f64 / total as f64)
    }
}

/// The spec's per-arm metrics block of the results route.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ArmMetrics {
    pub quality: MeanP95,
    pub latency: MeanP95,
    pub satisfaction: Feedback,
}

/// The spec's per-arm block: samples (users) and headline metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ArmResults {
    /// Users (the analysis unit).
    pub samples: u64,
    pub events: u64,
    pub metrics: ArmMetrics,
}

/// The spec's comparison block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    /// Relative change of treatment vs control in percent (`None` without data).
    pub quality_improvement: Option<f64>,
    pub latency_improvement: Option<f64>,
    pub satisfaction_improvement: Option<f64>,
    /// 1 − p of the criterion metric's always-valid two-sided test (its running minimum
    /// over looks).
    pub statistical_significance: Option<f64>,
    pub confidence_level: f64,
    pub recommendation: Recommendation,
}

/// A metric's distribution over users in one arm (spec: VariantResults.metrics).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MetricSummary {
    pub n: u64,
    pub mean: f64,
    pub median: f64,
    /// Sample standard deviation (n − 1); `None` with one user.
    pub std_dev: Option<f64>,
    pub p95: f64,
    pub p99: f64,
}

/// The spec's VariantResults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct VariantResults {
    pub samples: u64,
    pub events: u64,
    pub metrics: BTreeMap<String, MetricSummary>,
    pub user_feedback: Feedback,
    pub satisfaction_rate: Option<f64>,
}

/// What a comparison row compares: one of the metrics, per user, or the share of positive
/// feedback over feedback events. Serialised as the metric's name, or
/// `satisfaction_feedback`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    Metric(Metric),
    SatisfactionFeedback,
}

impl Measure {
    pub fn as_str(self) -> &'static str {
        match self {
            Measure::Metric(m) => m.as_str(),
            Measure::SatisfactionFeedback => "satisfaction_feedback",
        }
    }
}

impl PartialEq<Metric> for Measure {
    fn eq(&self, other: &Metric) -> bool {
        *self == Measure::Metric(*other)
    }
}

impl std::fmt::Display for Measure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Measure {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Measure {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        if name == "satisfaction_feedback" {
            return Ok(Measure::SatisfactionFeedback);
        }
        name.parse::<Metric>()
            .map(Measure::Metric)
            .map_err(serde::de::Error::custom)
    }
}

/// What a compared metric is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MetricRole {
    /// The success criterion's metric: it decides.
    Primary,
    /// `primaryMetric` when it is not the criterion's: a guardrail.
    PrimaryGuardrail,
    /// A secondary metric: a guardrail.
    Secondary,
    /// The feedback proportion, shown beside the per-user satisfaction: it decides nothing.
    #[serde(rename = "feedback proportion (two-proportion z-test over feedback events)")]
    FeedbackProportion,
}

impl MetricRole {
    /// Whether a significant worsening of the metric breaches a guardrail.
    pub fn is_guardrail(self) -> bool {
        matches!(self, MetricRole::PrimaryGuardrail | MetricRole::Secondary)
    }
}

/// What a reason of the recommendation is about, for code that acts on some of them (the
/// guardrail circuit breaker); the text is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReasonKind {
    /// A guardrail metric is significantly worse in the treatment.
    Guardrail,
    /// The arms' sizes do not match the allocation.
    SampleRatioMismatch,
    /// Fewer users than `minSamplesPerVariant` in an arm.
    MinimumSamples,
    /// Fewer days than `minDuration`.
    MinimumDuration,
    /// The primary metric could not be tested (not enough data).
    PrimaryUntestable,
    /// Where the success criterion stands: met, not met, or undecided.
    Criterion,
    /// The criterion's metric is significantly worse in the treatment.
    PrimaryWorse,
    /// Users with events in both arms were left out.
    UsersInBothArms,
}

/// One metric compared between the arms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MetricComparison {
    /// A metric's name, or `satisfaction_feedback`.
    #[cfg_attr(feature = "ssr", schema(value_type = String))]
    pub metric: Measure,
    pub direction: Direction,
    pub role: MetricRole,
    /// Why no test could be made ("not enough data: …"); the figures below are then absent.
    pub insufficient: Option<String>,
    pub control_mean: Option<f64>,
    pub treatment_mean: Option<f64>,
    /// Treatment − control, with Welch's interval (Welch–Satterthwaite dof).
    pub absolute_difference: Option<f64>,
    pub absolute_ci: Option<Interval>,
    pub welch_dof: Option<f64>,
    /// Treatment / control − 1 (a fraction), with the delta-method interval.
    pub relative_lift: Option<f64>,
    pub relative_ci: Option<Interval>,
    /// Two-sided fixed-horizon Welch p-value.
    pub p_value: Option<f64>,
    /// Always-valid (mixture SPRT) p-value and interval for the difference.
    pub sequential_p_value: Option<f64>,
    pub sequential_ci: Option<Interval>,
    /// The always-valid interval of the relative lift the success criterion reads (its
    /// `confidence` is 2·c − 1, so each end is a one-sided bound at the criterion's
    /// confidence c), carried over looks as a running intersection.
    #[serde(default)]
    pub sequential_relative_ci: Option<Interval>,
    /// Holm–Bonferroni adjusted p-value (secondary metrics), of the test in force.
    pub adjusted_p_value: Option<f64>,
    /// Significant at the confidence level by the test in force.
    pub significant: bool,
    /// Significantly worse for the treatment (a guardrail breach when secondary).
    pub worse: bool,
}

impl MetricComparison {
    /// A comparison of `metric` with no figures yet (each test fills in its own).
    pub fn empty(metric: Measure, direction: Direction, role: MetricRole) -> Self {
        Self {
            metric,
            direction,
            role,
            insufficient: None,
            control_mean: None,
            treatment_mean: None,
            absolute_difference: None,
            absolute_ci: None,
            welch_dof: None,
            relative_lift: None,
            relative_ci: None,
            p_value: None,
            sequential_p_value: None,
            sequential_ci: None,
            sequential_relative_ci: None,
            adjusted_p_value: None,
            significant: false,
            worse: false,
        }
    }
}

/// The success criterion and whether it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CriterionResult {
    /// The criterion as the wizard words it.
    pub text: String,
    /// `Some(true)` met, `Some(false)` confidently not met, `None` undecided.
    pub met: Option<bool>,
    /// One-sided bounds at the confidence level, of the relative change (fraction) the
    /// criterion is about: the improvement for > and >=, the raw change for < and <=.
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    /// The improvement (a signed fraction, in the metric's better direction) the bounds
    /// must beat: +threshold for "improves by…", −threshold for "gets worse by…".
    #[serde(default)]
    pub improvement_to_beat: Option<f64>,
}

/// Samples needed to detect the success threshold with 80 % power.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PowerEstimate {
    pub required_per_variant: Option<u64>,
    /// "observed" (control's variance so far) or "prior" (assumed before data).
    pub basis: String,
    pub estimated_end_date: Option<DateTime<Utc>>,
    pub note: Option<String>,
    /// Users per arm the plan fixed at the start (from the metric's typical spread, raised
    /// to `minSamplesPerVariant`): the sequential test is tuned to it.
    #[serde(default)]
    pub planned_per_variant: Option<u64>,
    /// The effect beyond the criterion's threshold the plan detects with 80 % power
    /// (fraction).
    #[serde(default)]
    pub minimum_detectable_effect: Option<f64>,
    /// The true improvement the power refers to: threshold (signed) + MDE (fraction).
    #[serde(default)]
    pub alternative: Option<f64>,
    /// The test the sizes are for: `sequential`.
    #[serde(default)]
    pub test: String,
}

/// CUPED-adjusted figures of the primary metric, beside the unadjusted ones: the users'
/// pre-experiment values remove the variance they explain (θ pooled over both arms).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CupedResult {
    pub metric: Metric,
    /// Users who sent a pre-experiment value (only they are in this analysis).
    pub users: u64,
    pub insufficient: Option<String>,
    pub theta: Option<f64>,
    /// Share of the variance removed (0–1).
    pub variance_reduction: Option<f64>,
    pub control_mean: Option<f64>,
    pub treatment_mean: Option<f64>,
    pub absolute_difference: Option<f64>,
    pub absolute_ci: Option<Interval>,
    pub p_value: Option<f64>,
}

/// A day of the quality time series: the day's events' mean quality in one arm, with a
/// band that is user-level (the event-level interval widened by the arm's design effect,
/// since one user's events are alike: see docs/STATISTICS.md, "Time series").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DayPoint {
    pub day: NaiveDate,
    pub variant: Variant,
    /// Events with a quality that day.
    pub n: u64,
    pub mean: f64,
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    /// The variance inflation applied to the event-level interval (≥ 1): the arm's
    /// cluster-robust variance of the mean quality over users, divided by the variance as
    /// if every event were independent.
    #[serde(default)]
    pub design_effect: Option<f64>,
}

/// p50, p95 and p99 of one arm's requests.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RequestQuantiles {
    /// Requests with a latency.
    pub requests: u64,
    pub p50: Option<QuantileEstimate>,
    pub p95: Option<QuantileEstimate>,
    pub p99: Option<QuantileEstimate>,
}

/// Request-level latency: percentiles of every request's latency per arm (the figure an
/// SLO states), from the mergeable sketches kept with the rollups — unlike `metrics.latency`,
/// which describes per-user mean latencies. Descriptive: requests of one user are not
/// independent, so these intervals are too narrow when users send many requests, and they
/// take no part in the recommendation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RequestLatency {
    pub control: RequestQuantiles,
    pub treatment: RequestQuantiles,
    /// treatment p95 − control p95 (ms) with its interval (Price & Bonett).
    pub p95_difference: Option<QuantileDifference>,
    /// Why there is no difference interval, when there is none.
    pub note: Option<String>,
    /// The sketch's relative accuracy (0.01: every figure is within 1 % of the exact one).
    pub relative_accuracy: f64,
}

/// A histogram over shared bins.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Distribution {
    /// Bin edges (`bins + 1` of them), in milliseconds.
    pub edges: Vec<f64>,
    pub control: Vec<u64>,
    pub treatment: Vec<u64>,
    pub scale: Scale,
}

/// How a histogram's bins are spaced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// Equal widths.
    #[default]
    Linear,
    /// Equal ratios, for heavy tails.
    Log,
}

/// Counts per feedback category per arm.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CategoryData {
    pub categories: Vec<String>,
    pub control: Vec<u64>,
    pub treatment: Vec<u64>,
}

/// The charts of the results view.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Charts {
    pub quality_over_time: Vec<DayPoint>,
    pub latency_distribution: Distribution,
    pub satisfaction_breakdown: CategoryData,
}

/// Everything beyond the spec's headline shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Detail {
    pub control: VariantResults,
    pub treatment: VariantResults,
    pub metrics: Vec<MetricComparison>,
    pub success_criterion: CriterionResult,
    pub srm: Option<SrmCheck>,
    pub power: PowerEstimate,
    /// CUPED, when events carry `metrics.pre_experiment`.
    pub cuped: Option<CupedResult>,
    /// Why the recommendation is what it is, for people.
    pub reasons: Vec<String>,
    /// What each of `reasons` is about, position by position (absent from snapshots stored
    /// before kinds were kept). Written with [`Detail::reasons_of`] in mind: code matches on
    /// the kind, never on the text.
    #[serde(default)]
    pub reason_kinds: Vec<ReasonKind>,
    /// Whether the always-valid (sequential) test decides: always `true` (it decides at
    /// every look, running or ended; see `decidedBy`).
    pub sequential: bool,
    pub tuning_n: f64,
    /// How many looks (result computations) the always-valid figures are carried over.
    #[serde(default)]
    pub looks: u64,
    /// Which test decided, and why it may be trusted under peeking.
    #[serde(default)]
    pub decided_by: String,
    /// What the sample-ratio check counted: `assigned users` or `users with events`.
    #[serde(default)]
    pub srm_basis: String,
    /// Users with events in both arms (possible only through events stored by hand or by
    /// older versions): left out of every figure, and counted here.
    #[serde(default)]
    pub users_in_both_arms: u64,
    /// Request-level latency percentiles, when the sketches were read.
    #[serde(default)]
    pub request_latency: Option<RequestLatency>,
    pub winner: Option<Variant>,
    pub guardrail_breached: bool,
    pub method: String,
}

impl Detail {
    /// The reasons of one kind.
    pub fn reasons_of(&self, kind: ReasonKind) -> impl Iterator<Item = &str> {
        self.reasons
            .iter()
            .zip(&self.reason_kinds)
            .filter(move |(_, k)| **k == kind)
            .map(|(r, _)| r.as_str())
    }
}

/// The results of an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ResultsReport {
    pub experiment_id: Uuid,
    pub name: String,
    pub status: ExperimentStatus,
    pub control: ArmResults,
    pub treatment: ArmResults,
    pub comparison: Comparison,
    pub charts: Charts,
    pub detail: Detail,
    pub computed_at: DateTime<Utc>,
    /// The arm to deploy, when the recommendation is to deploy one (`treatment` in the
    /// two-arm shape; any treatment's key with more arms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommended_arm: Option<Variant>,
    /// Every arm, the control first, each treatment with its comparison against the
    /// control. Only for experiments beyond the spec's two-arm shape (more than two arms, or
    /// arms not named `control` and `treatment`); there `treatment`, `comparison`, `charts`
    /// and `detail` above are those of the recommended arm (or the first treatment), with the
    /// recommendation and its reasons of the experiment as a whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arms: Vec<ArmReport>,
}

/// One arm of an experiment beyond the two-arm shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ArmReport {
    pub key: Variant,
    pub name: String,
    /// Whether this is the control (arm 0).
    pub control: bool,
    /// Its share of traffic, in percent.
    pub share: u8,
    /// The spec's per-arm block: users, events and headline metrics.
    pub results: ArmResults,
    /// The arm's distributions (spec: VariantResults).
    pub variant_results: VariantResults,
    /// This treatment against the control (`None` for the control).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versus_control: Option<Box<PairReport>>,
}

/// A treatment against the control: the two-arm report of that pair, at the confidence the
/// correction for k − 1 comparisons gives each (`comparison.confidenceLevel`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PairReport {
    pub comparison: Comparison,
    pub charts: Charts,
    pub detail: Detail,
}
