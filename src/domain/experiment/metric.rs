use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Which way a metric is good.
pub use crate::domain::stats::Direction;

/// A metric Verdict knows how to measure and compare. Unknown names are refused.
///
/// Wire names follow the spec: `quality`, `citation_quality`, `satisfaction`, `latency`,
/// `tokensUsed`, `cost`, `error_rate` (`tokens_used` is accepted as well).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Metric {
    #[serde(rename = "quality")]
    Quality,
    #[serde(rename = "citation_quality")]
    CitationQuality,
    #[serde(rename = "satisfaction")]
    Satisfaction,
    #[serde(rename = "latency")]
    Latency,
    #[serde(rename = "tokensUsed", alias = "tokens_used")]
    TokensUsed,
    #[serde(rename = "cost")]
    Cost,
    #[serde(rename = "error_rate")]
    ErrorRate,
}

impl Metric {
    /// Every metric, in the order the UI lists them.
    pub const ALL: [Metric; 7] = [
        Metric::Quality,
        Metric::CitationQuality,
        Metric::Satisfaction,
        Metric::Latency,
        Metric::TokensUsed,
        Metric::Cost,
        Metric::ErrorRate,
    ];

    /// The name on the wire (JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Quality => "quality",
            Metric::CitationQuality => "citation_quality",
            Metric::Satisfaction => "satisfaction",
            Metric::Latency => "latency",
            Metric::TokensUsed => "tokensUsed",
            Metric::Cost => "cost",
            Metric::ErrorRate => "error_rate",
        }
    }

    /// The name in the database (snake_case throughout).
    pub fn db_name(self) -> &'static str {
        match self {
            Metric::TokensUsed => "tokens_used",
            other => other.as_str(),
        }
    }

    /// A label for people.
    pub fn label(self) -> &'static str {
        match self {
            Metric::Quality => "Overall Quality Score",
            Metric::CitationQuality => "Citation Quality",
            Metric::Satisfaction => "User Satisfaction",
            Metric::Latency => "Response Latency",
            Metric::TokensUsed => "Tokens Used",
            Metric::Cost => "Cost",
            Metric::ErrorRate => "Error Rate",
        }
    }

    /// Quality, citation quality and satisfaction are better higher; latency, tokens, cost
    /// and the error rate are better lower.
    pub fn direction(self) -> Direction {
        match self {
            Metric::Quality | Metric::CitationQuality | Metric::Satisfaction => {
                Direction::HigherIsBetter
            }
            Metric::Latency | Metric::TokensUsed | Metric::Cost | Metric::ErrorRate => {
                Direction::LowerIsBetter
            }
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A metric name that Verdict does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown metric {0:?}; expected one of quality, citation_quality, satisfaction, latency, tokensUsed, cost, error_rate"
)]
pub struct UnknownMetric(pub String);

impl FromStr for Metric {
    type Err = UnknownMetric;

    /// Accepts the wire name and the database name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Metric::ALL
            .into_iter()
            .find(|m| m.as_str() == s || m.db_name() == s)
            .ok_or_else(|| UnknownMetric(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_parse_from_wire_and_database_names() {
        for m in Metric::ALL {
            assert_eq!(m.as_str().parse::<Metric>(), Ok(m));
            assert_eq!(m.db_name().parse::<Metric>(), Ok(m));
            assert_eq!(
                serde_json::from_str::<Metric>(&format!("\"{}\"", m.as_str())).unwrap(),
                m
            );
        }
        assert_eq!("tokens_used".parse::<Metric>(), Ok(Metric::TokensUsed));
        assert!("clicks".parse::<Metric>().is_err());
    }

    #[test]
    fn latency_is_better_lower_and_quality_higher() {
        assert_eq!(Metric::Latency.direction(), Direction::LowerIsBetter);
        assert_eq!(Metric::Cost.direction(), Direction::LowerIsBetter);
        assert_eq!(Metric::Quality.direction(), Direction::HigherIsBetter);
        assert_eq!(Metric::Satisfaction.direction(), Direction::HigherIsBetter);
    }
}
