//! Charts as SVG, rendered on the server: no JavaScript is needed to see them.
//! Colours come from CSS classes (`assets/app.css`), so they follow the light
//! and dark themes. Every chart has a title and a description for assistive
//! technology, and its numbers as a table one click away.

use maud::{Markup, html};

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// One labelled value.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub label: String,
    pub value: f64,
}

impl Point {
    pub fn new(label: impl Into<String>, value: f64) -> Point {
        Point {
            label: label.into(),
            value,
        }
    }
}

/// The frame shared by every chart: figure, accessible SVG, the numbers table.
fn figure(id: &str, title: &str, description: &str, svg_body: Markup, table: Markup) -> Markup {
    html! {
        figure.chart id=(id) {
            figcaption.chart-title id={(id) "-title"} { (title) }
            svg viewBox={"0 0 " (WIDTH) " " (HEIGHT)} role="img" aria-labelledby={(id) "-title " (id) "-desc"}
                preserveAspectRatio="xMidYMid meet" {
                desc id={(id) "-desc"} { (description) }
                (svg_body)
            }
            details.chart-numbers {
                summary { "Show the numbers" }
                (table)
            }
        }
    }
}

fn numbers_table(
    caption: &str,
    header: (&str, &str),
    points: &[Point],
    format: fn(f64) -> String,
) -> Markup {
    html! {
        table.data {
            caption.visually-hidden { (caption) }
            thead { tr { th scope="col" { (header.0) } th scope="col" { (header.1) } } }
            tbody {
                @for point in points {
                    tr { td { (point.label) } td.number { (format(point.value)) } }
                }
            }
        }
    }
}

/// A "nice" upper bound for an axis: 1, 2 or 5 times a power of ten.
pub fn nice_ceiling(value: f64) -> f64 {
    if !value.is_finite() || value <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|step| step * magnitude)
        .find(|bound| *bound >= value)
        .unwrap_or(10.0 * magnitude)
}

fn y_axis(max: f64, format: fn(f64) -> String) -> Markup {
    let plot_height = HEIGHT - TOP - BOTTOM;
    html! {
        @for i in 0..=4 {
            @let value = max * f64::from(i) / 4.0;
            @let y = TOP + plot_height * (1.0 - f64::from(i) / 4.0);
            line.chart-rule x1=(LEFT) x2=(WIDTH - RIGHT) y1=(y) y2=(y) {}
            text.chart-axis x=(LEFT - 6.0) y=(y + 4.0) text-anchor="end" { (format(value)) }
        }
    }
}

/// Which x labels to print so that they do not overlap.
fn label_every(count: usize) -> usize {
    (count / 8).max(1)
}

/// A line over time (e.g. the success rate per day). `max` fixes the axis top.
pub fn line_chart(
    id: &str,
    title: &str,
    description: &str,
    points: &[Point],
    max: Option<f64>,
    format: fn(f64) -> String,
) -> Markup {
    let top =
        max.unwrap_or_else(|| nice_ceiling(points.iter().map(|p| p.value).fold(0.0, f64::max)));
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let step = if points.len() > 1 {
        plot_width / (points.len() - 1) as f64
    } else {
        0.0
    };
    let xy: Vec<(f64, f64)> = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            (
                LEFT + step * i as f64,
                TOP + plot_height * (1.0 - (p.value / top).clamp(0.0, 1.0)),
            )
        })
        .collect();
    let path: String = xy
        .iter()
        .enumerate()
        .map(|(i, (x, y))| format!("{}{x:.1},{y:.1}", if i == 0 { "M" } else { " L" }))
        .collect();
    let every = label_every(points.len());
    let body = html! {
        (y_axis(top, format))
        @if points.is_empty() {
            text.chart-empty x=(WIDTH / 2.0) y=(HEIGHT / 2.0) text-anchor="middle" { "No data in this period" }
        } @else {
            path.chart-line d=(path) {}
            @for ((x, y), point) in xy.iter().zip(points) {
                circle.chart-dot cx=(x) cy=(y) r="2.5" { title { (point.label) ": " (format(point.value)) } }
            }
            @for (i, ((x, _), point)) in xy.iter().zip(points).enumerate() {
                @if i % every == 0 {
                    text.chart-axis x=(x) y=(HEIGHT - 8.0) text-anchor="middle" { (point.label) }
                }
            }
        }
    };
    figure(
        id,
        title,
        description,
        body,
        numbers_table(title, ("When", "Value"), points, format),
    )
}

/// Horizontal bars, largest first (e.g. the most used agents).
pub fn bar_chart(
    id: &str,
    title: &str,
    description: &str,
    points: &[Point],
    format: fn(f64) -> String,
) -> Markup {
    let shown: Vec<&Point> = points.iter().take(8).collect();
    let top = nice_ceiling(shown.iter().map(|p| p.value).fold(0.0, f64::max));
    let label_width = 150.0;
    let row = (HEIGHT - TOP - 8.0) / shown.len().max(1) as f64;
    let bar_room = WIDTH - label_width - RIGHT - 70.0;
    let body = html! {
        @if shown.is_empty() {
            text.chart-empty x=(WIDTH / 2.0) y=(HEIGHT / 2.0) text-anchor="middle" { "No data in this period" }
        }
        @for (i, point) in shown.iter().enumerate() {
            @let y = TOP + row * i as f64;
            @let width = (bar_room * point.value / top).max(1.0);
            text.chart-axis x=(label_width - 8.0) y=(y + row * 0.62) text-anchor="end" { (point.label) }
            rect class={"chart-bar series-" (i % 6)} x=(label_width) y=(y + row * 0.15) width=(width) height=(row * 0.7) rx="3" {
                title { (point.label) ": " (format(point.value)) }
            }
            text.chart-value x=(label_width + width + 6.0) y=(y + row * 0.62) { (format(point.value)) }
        }
    };
    figure(
        id,
        title,
        description,
        body,
        numbers_table(title, ("Name", "Value"), points, format),
    )
}

/// A donut of shares (e.g. tokens by model); small slices are merged as "Other".
pub fn donut_chart(
    id: &str,
    title: &str,
    description: &str,
    points: &[Point],
    format: fn(f64) -> String,
) -> Markup {
    let total: f64 = points.iter().map(|p| p.value.max(0.0)).sum();
    let mut slices: Vec<Point> = points.iter().take(5).cloned().collect();
    let rest: f64 = points.iter().skip(5).map(|p| p.value).sum();
    if rest > 0.0 {
        slices.push(Point::new("Other", rest));
    }
    let (cx, cy, radius, thickness) = (HEIGHT / 2.0, HEIGHT / 2.0, HEIGHT / 2.0 - 14.0, 34.0);
    let circumference = 2.0 * std::f64::consts::PI * (radius - thickness / 2.0);
    // Each slice's arc length and where it starts along the circle.
    let arcs: Vec<(f64, f64)> = slices
        .iter()
        .scan(0.0, |start, slice| {
            let length = circumference * slice.value.max(0.0) / total.max(f64::MIN_POSITIVE);
            let arc = (length, *start);
            *start += length;
            Some(arc)
        })
        .collect();
    let body = html! {
        @if total <= 0.0 {
            text.chart-empty x=(WIDTH / 2.0) y=(HEIGHT / 2.0) text-anchor="middle" { "No data in this period" }
        } @else {
            g transform={"rotate(-90 " (cx) " " (cy) ")"} {
                @for (i, (slice, (length, start))) in slices.iter().zip(&arcs).enumerate() {
                    circle class={"chart-slice series-" (i % 6)} cx=(cx) cy=(cy) r=(radius - thickness / 2.0) fill="none"
                        stroke-width=(thickness) stroke-dasharray={(length) " " (circumference - length)}
                        stroke-dashoffset=(-start) {
                        title { (slice.label) ": " (format(slice.value)) }
                    }
                }
            }
            text.chart-total x=(cx) y=(cy + 5.0) text-anchor="middle" { (format(total)) }
            @for (i, slice) in slices.iter().enumerate() {
                @let y = 30.0 + 26.0 * i as f64;
                rect class={"chart-bar series-" (i % 6)} x=(HEIGHT + 30.0) y=(y - 11.0) width="14" height="14" rx="3" {}
                text.chart-legend x=(HEIGHT + 52.0) y=(y) {
                    (slice.label) " — " (format(slice.value)) " (" (format!("{:.0}", 100.0 * slice.value / total)) " %)"
                }
            }
        }
    };
    figure(
        id,
        title,
        description,
        body,
        numbers_table(title, ("Name", "Value"), &slices, format),
    )
}

pub const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// Hour × weekday counts, darker where busier (e.g. peak execution times).
pub fn heat_map(
    id: &str,
    title: &str,
    description: &str,
    cells: &[[f64; 24]; 7],
    format: fn(f64) -> String,
) -> Markup {
    let max = cells.iter().flatten().copied().fold(0.0, f64::max);
    let cell_width = (WIDTH - LEFT - RIGHT) / 24.0;
    let cell_height = (HEIGHT - TOP - BOTTOM) / 7.0;
    let body = html! {
        @for (day, hours) in cells.iter().enumerate() {
            text.chart-axis x=(LEFT - 6.0) y=(TOP + cell_height * (day as f64 + 0.65)) text-anchor="end" { (WEEKDAYS[day]) }
            @for (hour, value) in hours.iter().enumerate() {
                @let level = if max > 0.0 { (value / max * 5.0).ceil() as u8 } else { 0 };
                rect class={"heat heat-" (level)} x=(LEFT + cell_width * hour as f64 + 1.0) y=(TOP + cell_height * day as f64 + 1.0)
                    width=(cell_width - 2.0) height=(cell_height - 2.0) rx="2" {
                    title { (WEEKDAYS[day]) " " (format!("{hour:02}:00")) ": " (format(*value)) }
                }
            }
        }
        @for hour in (0..24).step_by(3) {
            text.chart-axis x=(LEFT + cell_width * (hour as f64 + 0.5)) y=(HEIGHT - 8.0) text-anchor="middle" { (format!("{hour:02}")) }
        }
    };
    let rows: Vec<Point> = cells
        .iter()
        .enumerate()
        .flat_map(|(day, hours)| {
            hours
                .iter()
                .enumerate()
                .filter(|(_, value)| **value > 0.0)
                .map(move |(hour, value)| {
                    Point::new(format!("{} {hour:02}:00", WEEKDAYS[day]), *value)
                })
        })
        .collect();
    figure(
        id,
        title,
        description,
        body,
        numbers_table(title, ("Weekday and hour", "Value"), &rows, format),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(format: fn(f64) -> String) -> String {
        format(1234.0)
    }

    #[test]
    fn axis_bounds_are_round() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(12.0), 20.0);
        assert_eq!(nice_ceiling(430.0), 500.0);
        assert_eq!(nice_ceiling(1000.0), 1000.0);
        assert_eq!(count(|v| format!("{v:.0}")), "1234");
    }

    #[test]
    fn every_chart_is_labelled_and_carries_its_numbers() {
        let points = vec![Point::new("Mon", 3.0), Point::new("Tue", 5.0)];
        let fmt: fn(f64) -> String = |v| format!("{v:.0}");
        let mut cells = [[0.0; 24]; 7];
        cells[2][14] = 9.0;
        for chart in [
            line_chart("l", "Line", "desc", &points, None, fmt),
            bar_chart("b", "Bars", "desc", &points, fmt),
            donut_chart("d", "Donut", "desc", &points, fmt),
            heat_map("h", "Heat", "desc", &cells, fmt),
        ] {
            let html = chart.into_string();
            assert!(html.contains("role=\"img\""));
            assert!(html.contains("<desc"));
            assert!(html.contains("Show the numbers"));
        }
        let heat = heat_map("h", "Heat", "desc", &cells, fmt).into_string();
        assert!(heat.contains("Wed 14:00"));
        assert!(heat.contains("heat-5"));
        let empty = line_chart("e", "Empty", "desc", &[], None, fmt).into_string();
        assert!(empty.contains("No data in this period"));
    }
}
