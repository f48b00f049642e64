//! Dates as the UI writes them. Plain field formatting: chrono's strftime interpreter would
//! add its parser and formatter to the browser's WASM for three patterns.

use chrono::{DateTime, Datelike, Timelike, Utc};

/// `2026-12-01`.
pub fn date(t: DateTime<Utc>) -> String {
    format!("{:04}-{:02}-{:02}", t.year(), t.month(), t.day())
}

/// `2026-12-01 09:05:03` (UTC).
pub fn date_time(t: DateTime<Utc>) -> String {
    format!(
        "{} {:02}:{:02}:{:02}",
        date(t),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_strftime_would() {
        let t: DateTime<Utc> = "2026-03-04T05:06:07.890Z".parse().unwrap();
        assert_eq!(date(t), t.format("%Y-%m-%d").to_string());
        assert_eq!(date_time(t), t.format("%Y-%m-%d %H:%M:%S").to_string());
    }
}
