//! The results charts as SVG, drawn with plotters on the server so they show before the page
//! hydrates (and without plotters in the WASM bundle). Pure functions of the report's chart
//! data; text is SVG `<text>`, so no fonts are needed.
//!
//! Made to be read on the page:
//! - Text is `TEXT` units high, and the page never shows a chart narrower than
//!   `MIN_SHOWN_WIDTH` px (`.chart svg` in style/main.css), so it is at least 12.7 px on
//!   screen.
//! - Legends sit in a band above the plot, never over the data. Tick labels are placed by
//!   their estimated width (`text_width`), so none overlaps another or leaves the picture.
//! - Each arm has a colour of the Okabe–Ito palette (`ARM_COLOURS`, told apart with every
//!   common colour blindness), control first; the drawing functions take any number of arms.
//! - Each SVG has a `<title>` and a `<desc>` that says in words what it shows.

use crate::domain::assignment::Variant;
use crate::domain::results::{CategoryData, DayPoint, Distribution, Scale};
use plotters::coord::Shift;
use plotters::coord::cartesian::Cartesian2d;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::ops::Range;

/// The drawing's size, in SVG units (the page scales it to its column).
const WIDTH: u32 = 520;
const HEIGHT: u32 = 320;
/// The narrowest the page shows a chart, in CSS px (`min-width` of `.chart svg`).
pub const MIN_SHOWN_WIDTH: u32 = 440;
/// Text height in SVG units: at `MIN_SHOWN_WIDTH` it shows as 15 × 440 / 520 ≈ 12.7 px.
const TEXT: f64 = 15.0;
const FONT: &str = "sans-serif";
const INK: RGBColor = RGBColor(28, 36, 48);
const MUTED: RGBColor = RGBColor(91, 102, 117);
const GRID: RGBColor = RGBColor(232, 236, 242);
const MARGIN: i32 = 10;

/// The Okabe–Ito palette (Okabe & Ito, "Color Universal Design", 2008), in the order arms
/// take it: control first. Yellow, the faintest on white, comes last. The same colours are
/// `--arm-0` … `--arm-7` in style/main.css.
pub const ARM_COLOURS: [RGBColor; 8] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(230, 159, 0),   // orange
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(0, 0, 0),       // black
    RGBColor(240, 228, 66),  // yellow
];

/// The colour of the arm at `index` (control is 0).
fn arm_colour(index: usize) -> RGBColor {
    ARM_COLOURS[index % ARM_COLOURS.len()]
}

/// Feedback categories: positive, neutral, negative (bluish green, grey, vermillion).
const CATEGORY_COLOURS: [RGBColor; 3] = [
    RGBColor(0, 158, 115),
    RGBColor(187, 193, 202),
    RGBColor(213, 94, 0),
];

/// How an arm of the two-arm shape is named on its charts (k arms bring their own names).
fn arm_name(variant: Variant) -> &'static str {
    if variant == Variant::Control {
        "Control"
    } else {
        "Treatment"
    }
}

type Drawn<T = ()> = Result<T, Box<dyn std::error::Error>>;
type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Plot<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<Ticked, Ticked>>;

/// A linear axis labelled at the given ticks only, and without light grid lines. (Plotters'
/// own `WithKeyPoints` over `f64` cannot have its labels formatted.)
struct Ticked {
    linear: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.linear.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.linear.range()
    }
}

/// A text style of `size` SVG units. (Plotters' SVG backend writes `size / 1.24` as the
/// `font-size`; this undoes it.)
fn font(size: f64) -> TextStyle<'static> {
    (FONT, size * 1.24).into_font().color(&INK)
}

/// A generous estimate of how wide `text` is at `size` in the sans-serif fonts browsers use
/// (DejaVu Sans is among the widest): better a gap too wide than two labels overlapping.
fn text_width(text: &str, size: f64) -> f64 {
    let ems: f64 = text
        .chars()
        .map(|c| match c {
            'm' | 'w' | 'M' | 'W' | '%' | '—' => 1.0,
            'i' | 'j' | 'l' | 'f' | 't' | 'r' | ' ' | '.' | ',' | ':' | ';' | '\'' | '|' | '!'
            | '-' | '(' | ')' => 0.42,
            'A'..='Z' => 0.78,
            '0'..='9' | 'a'..='z' => 0.64,
            _ => 0.8,
        })
        .sum();
    ems * size
}

/// Escapes text for SVG content and attribute values.
fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The opening of every chart's SVG: it scales with its container, is an image named by
/// `title`, and carries `<title>` and `<desc>` (the text alternative).
fn svg_open(title: &str, desc: &str) -> String {
    let (title, desc) = (xml_escape(title), xml_escape(desc));
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{title}"><title>{title}</title><desc>{desc}</desc>"#
    )
}

/// An SVG that says there is nothing to draw yet.
fn empty(title: &str, message: &str) -> String {
    format!(
        r##"{}<rect width="100%" height="100%" fill="#fff"/><text x="50%" y="50%" text-anchor="middle" fill="#5b6675" font-family="{FONT}" font-size="{TEXT}">{}</text></svg>"##,
        svg_open(title, message),
        xml_escape(message)
    )
}

/// What a legend entry shows beside its text.
#[derive(Clone, Copy)]
enum Mark {
    Line,
    Block,
}

/// One legend entry.
struct Key {
    label: String,
    colour: RGBColor,
    mark: Mark,
}

const LEGEND_ROW: i32 = 22;
const SWATCH: i32 = 16;

/// The legend's entries placed left to right, wrapped onto new rows: (x, row) of each.
fn legend_layout(keys: &[Key]) -> Vec<(i32, i32)> {
    let (mut x, mut row) = (MARGIN, 0);
    keys.iter()
        .map(|key| {
            let w = SWATCH + 6 + text_width(&key.label, TEXT).ceil() as i32;
            if x > MARGIN && x + w > WIDTH as i32 - MARGIN {
                x = MARGIN;
                row += 1;
            }
            let at = (x, row);
            x += w + 18;
            at
        })
        .collect()
}

/// Draws the legend band at the top of `area`.
fn draw_legend(area: &Area<'_>, keys: &[Key], places: &[(i32, i32)]) -> Drawn {
    for (key, &(x, row)) in keys.iter().zip(places) {
        let y = 6 + row * LEGEND_ROW + LEGEND_ROW / 2;
        match key.mark {
            Mark::Line => {
                area.draw(&PathElement::new(
                    vec![(x, y), (x + SWATCH, y)],
                    key.colour.stroke_width(3),
                ))?;
                area.draw(&Circle::new((x + SWATCH / 2, y), 4, key.colour.filled()))?;
            }
            Mark::Block => {
                area.draw(&Rectangle::new(
                    [(x, y - 7), (x + SWATCH, y + 7)],
                    key.colour.filled(),
                ))?;
            }
        }
        area.draw(&Text::new(
            key.label.clone(),
            (x + SWATCH + 6, y),
            font(TEXT).pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
    }
    Ok(())
}

/// Draws a whole chart: a white page, the legend band on top, then `plot` below it. Falls
/// back to a message if plotters fails.
fn chart(title: &str, desc: &str, keys: &[Key], plot: impl FnOnce(&Area<'_>) -> Drawn) -> String {
    let places = legend_layout(keys);
    let rows = places.iter().map(|p| p.1 + 1).max().unwrap_or(0);
    let mut svg = String::new();
    let drawn = (|| -> Drawn {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let (top, rest) = root.split_vertically(6 + rows * LEGEND_ROW);
        draw_legend(&top, keys, &places)?;
        plot(&rest)?;
        root.present()?;
        Ok(())
    })();
    match (drawn, svg.find('>')) {
        // Plotters' own opening tag gives way to ours (viewBox, role, title, desc).
        (Ok(()), Some(end)) => format!("{}{}", svg_open(title, desc), &svg[end + 1..]),
        _ => empty(title, "The chart could not be drawn"),
    }
}

/// An axis: its range, where its labelled ticks go, how they read, and its description.
struct Axis<'a> {
    range: Range<f64>,
    ticks: Vec<f64>,
    label: &'a dyn Fn(f64) -> String,
    desc: Option<&'a str>,
}

impl Axis<'_> {
    fn coord(&self) -> Ticked {
        Ticked {
            linear: self.range.clone().into(),
            ticks: self.ticks.clone(),
        }
    }

    fn widest_label(&self) -> f64 {
        self.ticks
            .iter()
            .map(|t| text_width(&(self.label)(*t), TEXT))
            .fold(0.0, f64::max)
    }
}

/// The distance from the x axis to its tick labels is twice the tick mark: 8 keeps the
/// lowest y label (on the axis) clear of the x labels below it.
const X_TICK: i32 = 8;

/// The plot area of `area` with both axes drawn: room for the labels is made from their
/// estimated widths, and half the widest x label is kept free on the right (a label at the
/// right edge is centred on it).
fn plot_area<'a, 'b>(area: &'a Area<'b>, x: &Axis<'_>, y: &Axis<'_>) -> Drawn<Plot<'a, 'b>> {
    let x_area = 2 * X_TICK + (TEXT * 1.3).ceil() as i32 + desc_room(x.desc);
    let mut chart = ChartBuilder::on(area)
        .margin_top(12)
        .margin_bottom(MARGIN)
        .margin_left(MARGIN)
        .margin_right(right_room(x))
        .x_label_area_size(x_area)
        .y_label_area_size(y_label_room(y))
        .build_cartesian_2d(x.coord(), y.coord())?;
    let x_label = |v: &f64| (x.label)(*v);
    let y_label = |v: &f64| (y.label)(*v);
    let mut mesh = chart.configure_mesh();
    mesh.disable_x_mesh()
        .bold_line_style(GRID)
        .axis_style(MUTED)
        .set_tick_mark_size(LabelAreaPosition::Bottom, X_TICK)
        .label_style(font(TEXT))
        .axis_desc_style(font(TEXT))
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label);
    if let Some(desc) = x.desc {
        mesh.x_desc(desc);
    }
    if let Some(desc) = y.desc {
        mesh.y_desc(desc);
    }
    mesh.draw()?;
    Ok(chart)
}

/// Room for an axis description (one line of text and a gap), or none.
fn desc_room(desc: Option<&str>) -> i32 {
    desc.map_or(0, |_| (TEXT * 1.3).ceil() as i32 + 6)
}

/// The width of the y label area: the description, the widest label, the tick and a gap.
fn y_label_room(y: &Axis<'_>) -> i32 {
    desc_room(y.desc) + y.widest_label().ceil() as i32 + 12
}

/// The right margin: half the widest x label, which may be centred on the right edge.
fn right_room(x: &Axis<'_>) -> i32 {
    MARGIN + (x.widest_label() / 2.0).ceil() as i32
}

/// The width of a plot's x axis, in px of the drawing (to space the x labels before the plot
/// exists; `plot_area` leaves the same room).
fn plot_width(x: &Axis<'_>, y: &Axis<'_>) -> f64 {
    f64::from(WIDTH as i32 - MARGIN - right_room(x) - y_label_room(y))
}

/// Round values from at or below `lo` to at or above `hi`, about `target` steps apart, the
/// step 1, 2 or 5 times a power of ten and at least `min_step`.
fn ticks(lo: f64, hi: f64, target: usize, min_step: f64) -> Vec<f64> {
    let raw = ((hi - lo) / target.max(1) as f64).max(f64::EPSILON);
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude)
        .max(min_step);
    let first = (lo / step + 1e-9).floor() as i64;
    let last = (hi / step - 1e-9).ceil().max(first as f64 + 1.0) as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// Every `k`-th of `count` positions (from 0), `k` the smallest that leaves `label_width`
/// plus a gap between neighbouring labels when `count` positions span `span` px.
fn every_kth(count: usize, span: f64, label_width: f64) -> Vec<usize> {
    let per = span / count.max(1) as f64;
    let k = ((label_width + 12.0) / per).ceil().max(1.0) as usize;
    (0..count).step_by(k).collect()
}

/// Decimals that tell ticks `step` apart (in the unit shown).
fn decimals(step: f64) -> usize {
    if step <= 0.0 {
        return 0;
    }
    (-step.log10().floor()).clamp(0.0, 3.0) as usize
}

/// One arm's daily mean quality.
struct QualityArm<'a> {
    name: &'a str,
    points: Vec<&'a DayPoint>,
}

/// Mean quality per day and arm, with its interval as a band.
pub fn quality_over_time(points: &[DayPoint]) -> String {
    let arms: Vec<QualityArm<'_>> = [Variant::Control, Variant::Treatment]
        .into_iter()
        .map(|v| QualityArm {
            name: arm_name(v),
            points: points.iter().filter(|p| p.variant == v).collect(),
        })
        .collect();
    quality_lines(&arms)
}

/// Mean quality per day of any number of arms: each arm's name and its points, control
/// first.
pub fn quality_over_time_arms(arms: &[(String, Vec<DayPoint>)]) -> String {
    let arms: Vec<QualityArm<'_>> = arms
        .iter()
        .map(|(name, points)| QualityArm {
            name,
            points: points.iter().collect(),
        })
        .collect();
    quality_lines(&arms)
}

fn quality_lines(arms: &[QualityArm<'_>]) -> String {
    let title = "Quality over time";
    let all = || arms.iter().flat_map(|a| a.points.iter().copied());
    if all().next().is_none() {
        return empty(title, "No quality data yet");
    }
    let mut days: Vec<chrono::NaiveDate> = all().map(|p| p.day).collect();
    days.sort();
    days.dedup();
    let index = |d: chrono::NaiveDate| days.iter().position(|x| *x == d).unwrap_or(0) as f64;
    let lo = all()
        .map(|p| p.lower.unwrap_or(p.mean))
        .fold(f64::INFINITY, f64::min);
    let hi = all()
        .map(|p| p.upper.unwrap_or(p.mean))
        .fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.05).max(0.01);
    let y_ticks = ticks(lo - pad, hi + pad, 5, 0.0);
    let step = y_ticks
        .get(1)
        .zip(y_ticks.first())
        .map_or(0.01, |(b, a)| b - a);
    let places = decimals(step * 100.0);
    let percent = move |v: f64| format!("{:.*}%", places, v * 100.0);
    let y = Axis {
        range: y_ticks[0]..y_ticks[y_ticks.len() - 1],
        ticks: y_ticks.clone(),
        label: &percent,
        desc: Some("mean quality"),
    };
    let date = |v: f64| {
        days.get(v.round().max(0.0) as usize)
            .map(|d| d.format("%m-%d").to_string())
            .unwrap_or_default()
    };
    let mut x = Axis {
        range: -0.5..days.len() as f64 - 0.5,
        ticks: vec![0.0],
        label: &date,
        desc: Some("day"),
    };
    let shown = every_kth(days.len(), plot_width(&x, &y), x.widest_label());
    x.ticks = shown.iter().map(|i| *i as f64).collect();

    let keys: Vec<Key> = arms
        .iter()
        .enumerate()
        .filter(|(_, a)| !a.points.is_empty())
        .map(|(i, a)| Key {
            label: a.name.to_owned(),
            colour: arm_colour(i),
            mark: Mark::Line,
        })
        .collect();
    let desc = arms
        .iter()
        .filter(|a| !a.points.is_empty())
        .map(|a| {
            let first = a.points.iter().min_by_key(|p| p.day).copied();
            let last = a.points.iter().max_by_key(|p| p.day).copied();
            let low = a
                .points
                .iter()
                .map(|p| p.mean)
                .fold(f64::INFINITY, f64::min);
            let high = a
                .points
                .iter()
                .map(|p| p.mean)
                .fold(f64::NEG_INFINITY, f64::max);
            match (first, last) {
                (Some(f), Some(l)) => format!(
                    "{}: {} day{}; mean quality {} on {}, {} on {} (lowest {}, highest {}).",
                    a.name,
                    a.points.len(),
                    if a.points.len() == 1 { "" } else { "s" },
                    percent(f.mean),
                    f.day.format("%m-%d"),
                    percent(l.mean),
                    l.day.format("%m-%d"),
                    percent(low),
                    percent(high),
                ),
                _ => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ");

    chart(title, &desc, &keys, |area| {
        let mut plot = plot_area(area, &x, &y)?;
        for (i, arm) in arms.iter().enumerate() {
            let colour = arm_colour(i);
            let mut series = arm.points.clone();
            series.sort_by_key(|p| p.day);
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
                plot.draw_series(std::iter::once(Polygon::new(band, colour.mix(0.15))))?;
            }
            let line: Vec<(f64, f64)> = series.iter().map(|p| (index(p.day), p.mean)).collect();
            plot.draw_series(LineSeries::new(line.clone(), colour.stroke_width(2)))?;
            plot.draw_series(line.into_iter().map(|p| Circle::new(p, 4, colour.filled())))?;
        }
        Ok(())
    })
}

/// Users' mean latency, every arm on the same bins, side by side.
pub fn latency_distribution(d: &Distribution) -> String {
    latency_bars(
        &d.edges,
        d.scale,
        &[
            (arm_name(Variant::Control), d.control.as_slice()),
            (arm_name(Variant::Treatment), d.treatment.as_slice()),
        ],
    )
}

/// Users' mean latency of any number of arms, each given as its name and a histogram
/// (its own pair's bins). Histograms on the same bins are drawn as they are; otherwise each
/// is spread over common bins (evenly within each of its bins, which the description says).
pub fn latency_distribution_arms(arms: &[(String, &[f64], &[u64])], scale: Scale) -> String {
    let Some((_, first, _)) = arms
        .iter()
        .find(|(_, e, c)| e.len() == c.len() + 1 && !c.is_empty())
    else {
        return empty("Latency distribution", "No latency data yet");
    };
    let same = arms.iter().all(|(_, e, c)| c.is_empty() || e == first);
    if same {
        let named: Vec<(&str, &[u64])> = arms.iter().map(|(n, _, c)| (n.as_str(), *c)).collect();
        return latency_bars(first, scale, &named);
    }
    let lo = arms
        .iter()
        .filter_map(|(_, e, _)| e.first().copied())
        .fold(f64::INFINITY, f64::min);
    let hi = arms
        .iter()
        .filter_map(|(_, e, _)| e.last().copied())
        .fold(f64::NEG_INFINITY, f64::max);
    let log = scale == Scale::Log && lo > 0.0;
    let bins = first.len() - 1;
    let edges: Vec<f64> = (0..=bins)
        .map(|i| {
            let f = i as f64 / bins as f64;
            if log {
                (lo.ln() + (hi.ln() - lo.ln()) * f).exp()
            } else {
                lo + (hi - lo) * f
            }
        })
        .collect();
    let counts: Vec<Vec<u64>> = arms
        .iter()
        .map(|(_, e, c)| rebin(e, c, &edges, log))
        .collect();
    let named: Vec<(&str, &[u64])> = arms
        .iter()
        .zip(&counts)
        .map(|((n, _, _), c)| (n.as_str(), c.as_slice()))
        .collect();
    let svg = latency_bars(&edges, if log { Scale::Log } else { Scale::Linear }, &named);
    svg.replacen(
        "</desc>",
        " Each arm was binned with the control in its own comparison; the counts are spread evenly over these common bins, so the shape is approximate.</desc>",
        1,
    )
}

/// `counts` on bins `from` spread over bins `to` in proportion to the overlap (in log space
/// when `log`), rounded so that the total stays the same.
fn rebin(from: &[f64], counts: &[u64], to: &[f64], log: bool) -> Vec<u64> {
    let t = |x: f64| {
        if log {
            x.max(f64::MIN_POSITIVE).ln()
        } else {
            x
        }
    };
    let bins = to.len().saturating_sub(1);
    let mut shares = vec![0.0f64; bins];
    for (i, n) in counts.iter().enumerate() {
        let (Some(&a), Some(&b)) = (from.get(i), from.get(i + 1)) else {
            continue;
        };
        let (a, b) = (t(a), t(b));
        for (j, share) in shares.iter_mut().enumerate() {
            let (c, d) = (t(to[j]), t(to[j + 1]));
            let overlap = (b.min(d) - a.max(c)).max(0.0);
            let part = if b > a {
                overlap / (b - a)
            } else if a >= c && a < d || (j + 1 == bins && a == d) {
                1.0
            } else {
                0.0
            };
            *share += *n as f64 * part;
        }
    }
    let total: u64 = counts.iter().sum();
    let mut out: Vec<u64> = shares.iter().map(|s| s.floor() as u64).collect();
    let mut left = total.saturating_sub(out.iter().sum());
    let mut order: Vec<usize> = (0..bins).collect();
    order.sort_by(|x, y| {
        (shares[*y] - shares[*y].floor()).total_cmp(&(shares[*x] - shares[*x].floor()))
    });
    for j in order {
        if left == 0 {
            break;
        }
        out[j] += 1;
        left -= 1;
    }
    out
}

fn latency_bars(edges: &[f64], scale: Scale, arms: &[(&str, &[u64])]) -> String {
    let title = "Latency distribution";
    let bins = arms.iter().map(|(_, c)| c.len()).min().unwrap_or(0);
    if bins == 0 || edges.len() < bins + 1 || arms.iter().all(|(_, c)| c.iter().all(|n| *n == 0)) {
        return empty(title, "No latency data yet");
    }
    let top = arms
        .iter()
        .flat_map(|(_, c)| c.iter().take(bins))
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let y_ticks = ticks(0.0, top, 5, 1.0);
    let count = |v: f64| format!("{v:.0}");
    let y = Axis {
        range: 0.0..y_ticks[y_ticks.len() - 1],
        ticks: y_ticks.clone(),
        label: &count,
        desc: Some("users"),
    };
    let edge = |v: f64| {
        edges
            .get(v.round().max(0.0) as usize)
            .map(|e| format!("{e:.0}"))
            .unwrap_or_default()
    };
    let mut x = Axis {
        range: 0.0..bins as f64,
        ticks: (0..=bins).map(|i| i as f64).collect(),
        label: &edge,
        desc: Some(if scale == Scale::Log {
            "latency, ms (log bins)"
        } else {
            "latency, ms"
        }),
    };
    let shown = every_kth(
        bins + 1,
        plot_width(&x, &y) * (bins + 1) as f64 / bins as f64,
        x.widest_label(),
    );
    x.ticks = shown.iter().map(|i| *i as f64).collect();

    let keys: Vec<Key> = arms
        .iter()
        .enumerate()
        .map(|(i, (name, _))| Key {
            label: (*name).to_owned(),
            colour: arm_colour(i),
            mark: Mark::Block,
        })
        .collect();
    let desc = arms
        .iter()
        .map(|(name, counts)| {
            let total: u64 = counts.iter().take(bins).sum();
            let most = counts
                .iter()
                .take(bins)
                .enumerate()
                .max_by_key(|(b, n)| (**n, std::cmp::Reverse(*b)));
            match most {
                Some((b, n)) if total > 0 => format!(
                    "{name}: {total} users; most ({n}) between {:.0} and {:.0} ms.",
                    edges[b],
                    edges[b + 1]
                ),
                _ => format!("{name}: no users."),
            }
        })
        .collect::<Vec<_>>()
        .join(" ");

    let k = arms.len() as f64;
    chart(title, &desc, &keys, |area| {
        let mut plot = plot_area(area, &x, &y)?;
        for (i, (_, counts)) in arms.iter().enumerate() {
            let colour = arm_colour(i);
            let width = 0.9 / k;
            plot.draw_series(counts.iter().take(bins).enumerate().map(|(b, c)| {
                let x0 = b as f64 + 0.05 + i as f64 * width;
                Rectangle::new([(x0, 0.0), (x0 + width, *c as f64)], colour.filled())
            }))?;
        }
        Ok(())
    })
}

/// Feedback per category as shares of each arm's feedback: one horizontal stacked bar per
/// arm (control on top), so any number of arms keeps its names readable.
pub fn satisfaction_breakdown(c: &CategoryData) -> String {
    satisfaction_bars(
        &c.categories,
        &[
            (arm_name(Variant::Control), c.control.as_slice()),
            (arm_name(Variant::Treatment), c.treatment.as_slice()),
        ],
    )
}

/// Feedback per category of any number of arms: each arm's name and counts, control first.
pub fn satisfaction_breakdown_arms(categories: &[String], arms: &[(String, Vec<u64>)]) -> String {
    let named: Vec<(&str, &[u64])> = arms
        .iter()
        .map(|(n, c)| (n.as_str(), c.as_slice()))
        .collect();
    satisfaction_bars(categories, &named)
}

/// How an arm is named on the k-arm charts: its key, then its name, shortened to fit a
/// legend or an axis (arms named alike stay apart by their keys).
pub fn chart_arm_name(key: &str, name: &str) -> String {
    const MOST: usize = 18;
    let name = name.trim();
    let full = if name.is_empty() {
        key.to_owned()
    } else {
        format!("{key} · {name}")
    };
    if full.chars().count() <= MOST {
        full
    } else {
        let short: String = full.chars().take(MOST - 1).collect();
        format!("{}…", short.trim_end())
    }
}

fn satisfaction_bars(categories: &[String], arms: &[(&str, &[u64])]) -> String {
    let title = "User satisfaction";
    let total = |v: &[u64]| v.iter().sum::<u64>();
    if arms.iter().all(|(_, counts)| total(counts) == 0) {
        return empty(title, "No feedback yet");
    }
    let capitalised = |s: &str| {
        let mut s = s.to_owned();
        if let Some(first) = s.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        s
    };
    let k = arms.len();
    // Arm i is the bar centred at k - i - 0.5: control on top.
    let name = |v: f64| {
        let row = (k as f64 - v - 0.5).round();
        if row < 0.0 {
            return String::new();
        }
        arms.get(row as usize)
            .map(|(n, _)| (*n).to_owned())
            .unwrap_or_default()
    };
    let share = |v: f64| format!("{v:.0}%");
    let x = Axis {
        range: 0.0..100.0,
        ticks: vec![0.0, 25.0, 50.0, 75.0, 100.0],
        label: &share,
        desc: Some("% of feedback"),
    };
    let y = Axis {
        range: 0.0..k as f64,
        ticks: (0..k).map(|i| i as f64 + 0.5).collect(),
        label: &name,
        desc: None,
    };
    let colour = |j: usize| CATEGORY_COLOURS.get(j).copied().unwrap_or(MUTED);
    let keys: Vec<Key> = categories
        .iter()
        .enumerate()
        .map(|(j, c)| Key {
            label: capitalised(c),
            colour: colour(j),
            mark: Mark::Block,
        })
        .collect();
    let desc = arms
        .iter()
        .map(|(arm, counts)| {
            let sum = total(counts);
            if sum == 0 {
                return format!("{arm}: no feedback.");
            }
            let parts: Vec<String> = categories
                .iter()
                .zip(counts.iter())
                .map(|(c, n)| format!("{c} {:.0}% ({n})", *n as f64 * 100.0 / sum as f64))
                .collect();
            format!("{arm}: {}.", parts.join(", "))
        })
        .collect::<Vec<_>>()
        .join(" ");

    chart(title, &desc, &keys, |area| {
        let mut plot = plot_area(area, &x, &y)?;
        let width_px = plot.plotting_area().dim_in_pixel().0 as f64;
        for (i, (_, counts)) in arms.iter().enumerate() {
            let sum = total(counts);
            if sum == 0 {
                continue;
            }
            let y0 = (k - i - 1) as f64 + 0.2;
            let mut below = 0u64;
            for (j, n) in counts.iter().enumerate().take(categories.len()) {
                let (x0, x1) = (
                    below as f64 * 100.0 / sum as f64,
                    (below + n) as f64 * 100.0 / sum as f64,
                );
                below += n;
                if *n == 0 {
                    continue;
                }
                plot.draw_series(std::iter::once(Rectangle::new(
                    [(x0, y0), (x1, y0 + 0.6)],
                    colour(j).filled(),
                )))?;
                // The share written in its segment, where it fits.
                let text = share(x1 - x0);
                if (x1 - x0) / 100.0 * width_px >= text_width(&text, TEXT) + 8.0 {
                    plot.draw_series(std::iter::once(Text::new(
                        text,
                        ((x0 + x1) / 2.0, y0 + 0.3),
                        font(TEXT).pos(Pos::new(HPos::Center, VPos::Center)),
                    )))?;
                }
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(day: &str, variant: Variant, mean: f64) -> DayPoint {
        DayPoint {
            day: day.parse().unwrap(),
            variant,
            n: 10,
            mean,
            lower: Some(mean - 0.05),
            upper: Some(mean + 0.05),
            design_effect: None,
        }
    }

    /// The `(x, y, font-size, text)` of every `<text>` plotters wrote.
    fn texts(svg: &str) -> Vec<(f64, f64, f64, String)> {
        let attr = |tag: &str, name: &str| -> f64 {
            let key = format!(" {name}=\"");
            tag.find(&key)
                .and_then(|i| tag[i + key.len()..].split('"').next()?.parse().ok())
                .unwrap_or(f64::NAN)
        };
        svg.split("<text")
            .skip(1)
            .map(|rest| {
                let (tag, after) = rest.split_once('>').unwrap();
                let text = after.split("</text>").next().unwrap().trim().to_owned();
                (attr(tag, "x"), attr(tag, "y"), attr(tag, "font-size"), text)
            })
            .collect()
    }

    #[test]
    fn charts_are_svg_images_with_a_title_and_a_description_in_words() {
        let days = vec![
            day("2026-11-20", Variant::Control, 0.6),
            day("2026-11-21", Variant::Control, 0.62),
            day("2026-11-20", Variant::Treatment, 0.7),
        ];
        let svg = quality_over_time(&days);
        assert!(svg.starts_with("<svg") && svg.contains(r#"role="img""#));
        assert!(svg.contains("<title>Quality over time</title>"));
        assert!(
            svg.contains(
                "<desc>Control: 2 days; mean quality 60% on 11-20, 62% on 11-21 (lowest 60%, highest 62%). Treatment: 1 day;"
            ),
            "{svg}"
        );
        assert_eq!(svg.matches("<svg").count(), 1, "one opening tag");
        assert!(svg.contains(r#"viewBox="0 0 520 320""#) && !svg.contains("<svg width"));

        let d = Distribution {
            edges: vec![1.0, 10.0, 100.0],
            control: vec![3, 1],
            treatment: vec![1, 4],
            scale: Scale::Log,
        };
        let svg = latency_distribution(&d);
        assert!(svg.contains("log bins"));
        assert!(svg.contains("Treatment: 5 users; most (4) between 10 and 100 ms."));

        let c = CategoryData {
            categories: vec!["positive".into(), "neutral".into(), "negative".into()],
            control: vec![5, 3, 2],
            treatment: vec![7, 2, 1],
        };
        let svg = satisfaction_breakdown(&c);
        assert!(texts(&svg).iter().any(|t| t.3 == "Positive"), "the legend");
        assert!(svg.contains("Control: positive 50% (5), neutral 30% (3), negative 20% (2)."));

        let none = quality_over_time(&[]);
        assert!(none.contains("No quality data yet") && none.contains("<desc>"));
        assert!(satisfaction_breakdown(&CategoryData::default()).contains("No feedback yet"));
    }

    #[test]
    fn all_text_is_fifteen_units_high_so_at_least_twelve_px_at_the_narrowest_shown_width() {
        let days = vec![
            day("2026-11-20", Variant::Control, 0.6),
            day("2026-11-20", Variant::Treatment, 0.7),
        ];
        let svg = quality_over_time(&days);
        let sizes: Vec<f64> = texts(&svg).iter().map(|t| t.2).collect();
        assert!(sizes.len() > 6, "{svg}");
        for size in sizes {
            assert!((size - TEXT).abs() < 1e-6, "font-size {size}");
        }
        assert!(TEXT * f64::from(MIN_SHOWN_WIDTH) / f64::from(WIDTH) >= 12.5);
    }

    #[test]
    fn the_legend_is_above_the_plot_and_wraps_for_eight_arms() {
        let names: Vec<String> = (0..8).map(|i| format!("Treatment {i}")).collect();
        let counts: Vec<Vec<u64>> = (0..8).map(|i| vec![i + 1, 2, 3]).collect();
        let arms: Vec<(&str, &[u64])> = names
            .iter()
            .zip(&counts)
            .map(|(n, c)| (n.as_str(), c.as_slice()))
            .collect();
        let svg = latency_bars(&[10.0, 20.0, 40.0, 80.0], Scale::Linear, &arms);
        let texts = texts(&svg);
        let legend: Vec<_> = texts
            .iter()
            .filter(|t| t.3.starts_with("Treatment"))
            .collect();
        assert_eq!(legend.len(), 8);
        let rows: std::collections::BTreeSet<i64> = legend.iter().map(|t| t.1 as i64).collect();
        assert!(rows.len() >= 2, "eight names do not fit one row: {rows:?}");
        let lowest_legend = legend.iter().map(|t| t.1).fold(0.0, f64::max);
        // The highest y tick label is the top of the plot; the legend ends above it.
        let ticks = texts.iter().filter(|t| t.3.parse::<f64>().is_ok());
        let highest_tick = ticks.map(|t| t.1).fold(f64::INFINITY, f64::min);
        assert!(
            lowest_legend + TEXT < highest_tick,
            "{lowest_legend} vs {highest_tick}"
        );
        for t in &legend {
            assert!(
                t.0 + text_width(&t.3, TEXT) <= f64::from(WIDTH),
                "{t:?} leaves the picture"
            );
        }
        // Eight distinct colours.
        let mut colours: Vec<_> = ARM_COLOURS.iter().map(|c| (c.0, c.1, c.2)).collect();
        colours.dedup();
        assert_eq!(colours.len(), 8);
    }

    #[test]
    fn satisfaction_names_every_arm_on_its_own_row_and_writes_shares_that_fit() {
        let c = CategoryData {
            categories: vec!["positive".into(), "neutral".into(), "negative".into()],
            control: vec![60, 30, 10],
            treatment: vec![1, 0, 99],
        };
        let svg = satisfaction_breakdown(&c);
        let texts = texts(&svg);
        let control = texts
            .iter()
            .find(|t| t.3 == "Control")
            .expect("control named");
        let treatment = texts
            .iter()
            .find(|t| t.3 == "Treatment")
            .expect("treatment named");
        assert!(control.1 < treatment.1, "control on top");
        assert!(texts.iter().any(|t| t.3 == "60%"));
        assert!(texts.iter().any(|t| t.3 == "99%"));
        assert!(
            !texts.iter().any(|t| t.3 == "1%"),
            "too narrow a segment stays unlabelled"
        );
    }

    #[test]
    fn x_labels_are_spaced_by_their_width() {
        let days: Vec<DayPoint> = (0..60)
            .map(|i| {
                let d = chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap()
                    + chrono::Duration::days(i);
                day(&d.to_string(), Variant::Control, 0.6)
            })
            .collect();
        let svg = quality_over_time(&days);
        let mut dates: Vec<(f64, f64)> = texts(&svg)
            .iter()
            .filter(|t| t.3.len() == 5 && t.3.as_bytes()[2] == b'-')
            .map(|t| (t.0, text_width(&t.3, TEXT)))
            .collect();
        dates.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(dates.len() >= 4 && dates.len() < 60, "{}", dates.len());
        for pair in dates.windows(2) {
            assert!(pair[1].0 - pair[0].0 >= pair[0].1, "{pair:?}");
        }
        let last = dates.last().unwrap();
        assert!(last.0 + last.1 / 2.0 <= f64::from(WIDTH));
    }

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(0.0, 7.0, 5, 1.0), vec![0.0, 2.0, 4.0, 6.0, 8.0]);
        assert_eq!(ticks(0.0, 3.0, 5, 1.0), vec![0.0, 1.0, 2.0, 3.0]);
        let t = ticks(0.53, 0.71, 5, 0.0);
        assert!(t[0] <= 0.53 && *t.last().unwrap() >= 0.71);
        assert!((t[1] - t[0] - 0.05).abs() < 1e-9, "{t:?}");
        assert_eq!(decimals(5.0), 0);
        assert_eq!(decimals(0.5), 1);
        assert_eq!(
            every_kth(10, 400.0, 30.0),
            (0..10).step_by(2).collect::<Vec<_>>()
        );
    }

    #[test]
    fn k_arm_latency_bins_are_shared_and_keep_every_user() {
        let a = [0.0, 10.0, 20.0];
        let b = [0.0, 20.0, 40.0];
        let svg = latency_distribution_arms(
            &[
                ("Control".into(), &a[..], &[4, 6][..]),
                ("B".into(), &b[..], &[5, 5][..]),
            ],
            Scale::Linear,
        );
        assert!(
            svg.contains("Control: 10 users") && svg.contains("B: 10 users"),
            "{svg}"
        );
        assert!(svg.contains("approximate"));
        assert_eq!(
            rebin(&b, &[5, 5], &[0.0, 10.0, 20.0, 30.0, 40.0], false)
                .iter()
                .sum::<u64>(),
            10
        );
        assert_eq!(rebin(&a, &[4, 6], &[0.0, 20.0, 40.0], false), vec![10, 0]);
        // On the same bins, drawn as they are.
        let same = latency_distribution_arms(
            &[
                ("Control".into(), &a[..], &[4, 6][..]),
                ("B".into(), &a[..], &[1, 2][..]),
            ],
            Scale::Linear,
        );
        assert!(!same.contains("approximate"));
        assert_eq!(
            chart_arm_name("c", "A rather long arm name indeed"),
            "c · A rather long…"
        );
        assert_eq!(chart_arm_name("c", "Short"), "c · Short");
        assert_eq!(chart_arm_name("c", " "), "c");
    }
}
