//! The results charts as SVG, drawn with plotters on the server so they show before the page
//! hydrates (and without plotters in the WASM bundle). Pure functions of the report's chart
//! data; text is SVG `<text>`, so no fonts are needed.

use crate::domain::assignment::Variant;
use crate::domain::results::{CategoryData, DayPoint, Distribution, Scale};
use plotters::prelude::*;

const WIDTH: u32 = 560;
const HEIGHT: u32 = 300;
const CONTROL: RGBColor = RGBColor(110, 120, 135);
const TREATMENT: RGBColor = RGBColor(47, 111, 237);
const FONT: &str = "sans-serif";

/// An SVG that says there is nothing to draw yet.
fn empty(title: &str, message: &str) -> String {
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{title}: {message}"><rect width="100%" height="100%" fill="#fff"/><text x="50%" y="50%" text-anchor="middle" fill="#5b6675" font-family="sans-serif" font-size="14">{message}</text></svg>"##
    )
}

/// Plotters writes fixed width/height; make the SVG scale with its container.
fn responsive(svg: String, label: &str) -> String {
    svg.replacen(
        &format!(r#"width="{WIDTH}" height="{HEIGHT}""#),
        &format!(r#"viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{label}""#),
        1,
    )
}

/// Mean quality per day and variant, with its interval as a band.
pub fn quality_over_time(points: &[DayPoint]) -> String {
    let title = "Quality over time";
    if points.is_empty() {
        return empty(title, "No quality data yet");
    }
    let mut days: Vec<chrono::NaiveDate> = points.iter().map(|p| p.day).collect();
    days.sort();
    days.dedup();
    let index = |d: chrono::NaiveDate| days.iter().position(|x| *x == d).unwrap_or(0) as f64;
    let lo = points
        .iter()
        .map(|p| p.lower.unwrap_or(p.mean))
        .fold(f64::INFINITY, f64::min);
    let hi = points
        .iter()
        .map(|p| p.upper.unwrap_or(p.mean))
        .fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.1).max(0.01);
    let x_max = (days.len().max(2) - 1) as f64;
    let mut svg = String::new();
    let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(48)
            .build_cartesian_2d(-0.2f64..x_max + 0.2, (lo - pad)..(hi + pad))?;
        chart
            .configure_mesh()
            .x_desc("day")
            .y_desc("mean quality")
            .x_labels(days.len().min(8))
            .x_label_formatter(&|x| {
                days.get(x.round().max(0.0) as usize)
                    .map(|d| d.format("%m-%d").to_string())
                    .unwrap_or_default()
            })
            .label_style((FONT, 12))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        for (arm, color) in [(Variant::Control, CONTROL), (Variant::Treatment, TREATMENT)] {
            let series: Vec<&DayPoint> = points.iter().filter(|p| p.variant == arm).collect();
            if series.is_empty() {
                continue;
            }
            let upper: Vec<(f64, f64)> = series
                .iter()
                .filter_map(|p| Some((index(p.day), p.upper?)))
                .collect();
            let lower: Vec<(f64, f64)> = series
                .iter()
                .rev()
                .filter_map(|p| Some((index(p.day), p.lower?)))
                .collect();
            if upper.len() > 1 {
                let band: Vec<(f64, f64)> = upper.into_iter().chain(lower).collect();
                chart.draw_series(std::iter::once(Polygon::new(band, color.mix(0.15))))?;
            }
            let line: Vec<(f64, f64)> = series.iter().map(|p| (index(p.day), p.mean)).collect();
            chart
                .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))?
                .label(if arm == Variant::Control {
                    "Control"
                } else {
                    "Treatment"
                })
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart.draw_series(line.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font((FONT, 12))
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(223, 227, 234))
            .draw()?;
        root.present()?;
        Ok(())
    })();
    match drawn {
        Ok(()) => responsive(svg, title),
        Err(_) => empty(title, "The chart could not be drawn"),
    }
}

/// Users' mean latency, both variants on the same bins, side by side.
pub fn latency_distribution(d: &Distribution) -> String {
    let title = "Latency distribution";
    let bins = d.control.len().min(d.treatment.len());
    if bins == 0 || d.edges.len() < bins + 1 {
        return empty(title, "No latency data yet");
    }
    let top = d
        .control
        .iter()
        .chain(d.treatment.iter())
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let edges = d.edges.clone();
    let mut svg = String::new();
    let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(48)
            .build_cartesian_2d(0f64..bins as f64, 0f64..top * 1.1)?;
        chart
            .configure_mesh()
            .x_desc(if d.scale == Scale::Log {
                "latency, ms (log bins)"
            } else {
                "latency, ms"
            })
            .y_desc("users")
            .x_labels(6)
            .x_label_formatter(&|x| {
                edges
                    .get(x.round().max(0.0) as usize)
                    .map(|e| format!("{e:.0}"))
                    .unwrap_or_default()
            })
            .label_style((FONT, 12))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        for (i, (name, color, counts)) in [
            ("Control", CONTROL, &d.control),
            ("Treatment", TREATMENT, &d.treatment),
        ]
        .into_iter()
        .enumerate()
        {
            let offset = i as f64 * 0.45;
            chart
                .draw_series(counts.iter().take(bins).enumerate().map(|(b, c)| {
                    let x0 = b as f64 + 0.05 + offset;
                    Rectangle::new(
                        [(x0, 0.0), (x0 + 0.45, *c as f64)],
                        color.mix(0.85).filled(),
                    )
                }))?
                .label(name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT, 12))
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(223, 227, 234))
            .draw()?;
        root.present()?;
        Ok(())
    })();
    match drawn {
        Ok(()) => responsive(svg, title),
        Err(_) => empty(title, "The chart could not be drawn"),
    }
}

/// Feedback per category, stacked, as shares of each variant's feedback.
pub fn satisfaction_breakdown(c: &CategoryData) -> String {
    let title = "User satisfaction";
    let total = |v: &[u64]| v.iter().sum::<u64>();
    if total(&c.control) + total(&c.treatment) == 0 {
        return empty(title, "No feedback yet");
    }
    let colors = [
        RGBColor(31, 138, 76),
        RGBColor(183, 190, 200),
        RGBColor(192, 57, 43),
    ];
    let mut svg = String::new();
    let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(48)
            .build_cartesian_2d(0f64..2f64, 0f64..100f64)?;
        chart
            .configure_mesh()
            .y_desc("% of feedback")
            .x_labels(2)
            .x_label_formatter(&|x| if *x < 1.0 { "Control" } else { "Treatment" }.to_owned())
            .label_style((FONT, 12))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        for (k, category) in c.categories.iter().enumerate() {
            let color = colors.get(k).copied().unwrap_or(CONTROL);
            let bars: Vec<Rectangle<(f64, f64)>> = [&c.control, &c.treatment]
                .into_iter()
                .enumerate()
                .filter_map(|(arm, counts)| {
                    let sum = total(counts);
                    if sum == 0 {
                        return None;
                    }
                    let below: u64 = counts.iter().take(k).sum();
                    let here = counts.get(k).copied().unwrap_or(0);
                    let y0 = below as f64 * 100.0 / sum as f64;
                    let y1 = (below + here) as f64 * 100.0 / sum as f64;
                    let x0 = arm as f64 + 0.25;
                    Some(Rectangle::new([(x0, y0), (x0 + 0.5, y1)], color.filled()))
                })
                .collect();
            let label = {
                let mut s = category.clone();
                if let Some(first) = s.get_mut(0..1) {
                    first.make_ascii_uppercase();
                }
                s
            };
            chart.draw_series(bars)?.label(label).legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
            });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT, 12))
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(223, 227, 234))
            .draw()?;
        root.present()?;
        Ok(())
    })();
    match drawn {
        Ok(()) => responsive(svg, title),
        Err(_) => empty(title, "The chart could not be drawn"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_with_an_accessible_name_and_an_empty_state() {
        let days = vec![
            DayPoint {
                day: "2026-11-20".parse().unwrap(),
                variant: Variant::Control,
                n: 10,
                mean: 0.6,
                lower: Some(0.55),
                upper: Some(0.65),
                design_effect: None,
            },
            DayPoint {
                day: "2026-11-21".parse().unwrap(),
                variant: Variant::Control,
                n: 10,
                mean: 0.62,
                lower: Some(0.57),
                upper: Some(0.67),
                design_effect: None,
            },
            DayPoint {
                day: "2026-11-20".parse().unwrap(),
                variant: Variant::Treatment,
                n: 10,
                mean: 0.7,
                lower: Some(0.65),
                upper: Some(0.75),
                design_effect: None,
            },
        ];
        let svg = quality_over_time(&days);
        assert!(svg.starts_with("<svg") && svg.contains("aria-label=\"Quality over time\""));
        assert!(svg.contains("Treatment") && svg.contains("11-20"));
        let d = Distribution {
            edges: vec![1.0, 10.0, 100.0],
            control: vec![3, 1],
            treatment: vec![1, 4],
            scale: Scale::Log,
        };
        assert!(latency_distribution(&d).contains("log bins"));
        let c = CategoryData {
            categories: vec!["positive".into(), "neutral".into(), "negative".into()],
            control: vec![5, 3, 2],
            treatment: vec![7, 2, 1],
        };
        assert!(satisfaction_breakdown(&c).contains("Positive"));
        assert!(quality_over_time(&[]).contains("No quality data yet"));
        assert!(satisfaction_breakdown(&CategoryData::default()).contains("No feedback yet"));
    }
}
