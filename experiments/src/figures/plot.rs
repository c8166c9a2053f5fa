//! Figures as data (panels of series) and their rendering with `plotters`: SVG always, PNG with
//! the embedded DejaVu Sans font (no system fonts needed).
//!
//! Log axes are drawn by plotting `log10` of the values on a linear axis and labelling the ticks
//! with the original values, so every panel has the same chart type.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::ExperimentError;

/// One plotted point: the mean over seeds and its spread (one standard deviation; 0 or NaN for
/// none).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Abscissa.
    pub x: f64,
    /// Ordinate (the mean over seeds for measured points).
    pub y: f64,
    /// Half-length of the error bar.
    pub err: f64,
}

impl Point {
    /// A point without an error bar.
    pub fn new(x: f64, y: f64) -> Self {
        Self { x, y, err: 0.0 }
    }
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Markers joined by a thin line, with error bars.
    Measured,
    /// Markers with error bars, no joining line (e.g. a second penalty drawn over the first).
    MeasuredOpen,
    /// A dashed line (a closed-form prediction).
    Theory,
    /// A solid line without markers (trajectories, histograms, fits).
    Line,
    /// Small dots without a line (per-sample scatter).
    Scatter,
}

/// One labelled series of a panel.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// The points, in drawing order.
    pub points: Vec<Point>,
    /// How to draw them.
    pub style: Style,
    /// Index into the palette.
    pub color: usize,
}

impl Series {
    /// A series.
    pub fn new(label: impl Into<String>, style: Style, color: usize, points: Vec<Point>) -> Self {
        Self {
            label: label.into(),
            points,
            style,
            color,
        }
    }
}

/// Where a panel's legend sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Legend {
    /// Upper right (the default).
    #[default]
    UpperRight,
    /// Lower left.
    LowerLeft,
    /// Lower right.
    LowerRight,
}

/// One chart of a figure.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Panel {
    /// Title above the chart.
    pub title: String,
    /// Abscissa label.
    pub x_label: String,
    /// Ordinate label.
    pub y_label: String,
    /// Logarithmic abscissa.
    pub log_x: bool,
    /// Logarithmic ordinate.
    pub log_y: bool,
    /// The series.
    pub series: Vec<Series>,
    /// Vertical reference lines `(x, label, color)`.
    pub vlines: Vec<(f64, String, usize)>,
    /// Legend position.
    pub legend: Legend,
}

impl Panel {
    /// A panel with a title and axis labels: linear axes, no series, no reference lines, the
    /// legend where [`Legend`]'s default puts it.
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            ..Default::default()
        }
    }

    /// The same panel with a logarithmic abscissa.
    pub fn with_log_x(self) -> Self {
        Self {
            log_x: true,
            ..self
        }
    }

    /// The same panel with a logarithmic ordinate.
    pub fn with_log_y(self) -> Self {
        Self {
            log_y: true,
            ..self
        }
    }
}

/// The palette (colour-blind friendly, Okabe–Ito), then black.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(120, 120, 120),
    RGBColor(0, 0, 0),
];

fn color(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

static FONT: Once = Once::new();

/// Registers the embedded DejaVu Sans as plotters' `sans-serif` (once per process).
fn register_font() {
    FONT.call_once(|| {
        // The font is a valid TTF shipped by the `dejavu` crate; failure here is a build
        // problem, and text then falls back to nothing rather than aborting the run.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

fn transform(v: f64, log: bool) -> Option<f64> {
    if !v.is_finite() {
        return None;
    }
    if log {
        (v > 0.0).then(|| v.log10())
    } else {
        Some(v)
    }
}

/// The drawn range of a panel's axis, with 5% padding; `None` when no point is drawable.
fn axis_range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() || !hi.is_finite() {
        return None;
    }
    if hi - lo < 1e-12 {
        let pad = if lo.abs() > 0.0 { lo.abs() * 0.1 } else { 1.0 };
        return Some((lo - pad, hi + pad));
    }
    let pad = 0.05 * (hi - lo);
    Some((lo - pad, hi + pad))
}

fn plot_error<E: std::fmt::Debug>(e: E) -> ExperimentError {
    ExperimentError::Io {
        path: "figure".into(),
        message: format!("plotting failed: {e:?}"),
    }
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
) -> Result<(), ExperimentError> {
    let xs = panel
        .series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|p| transform(p.x, panel.log_x)))
        .chain(
            panel
                .vlines
                .iter()
                .filter_map(|(x, _, _)| transform(*x, panel.log_x)),
        );
    let ys = panel.series.iter().flat_map(|s| {
        s.points.iter().flat_map(|p| {
            let err = if p.err.is_finite() { p.err } else { 0.0 };
            [
                transform(p.y - err, panel.log_y).or_else(|| transform(p.y, panel.log_y)),
                transform(p.y + err, panel.log_y),
            ]
            .into_iter()
            .flatten()
        })
    });
    let (Some((x0, x1)), Some((y0, y1))) = (axis_range(xs), axis_range(ys)) else {
        area.titled(
            &format!("{} (no finite data)", panel.title),
            ("sans-serif", 16),
        )
        .map_err(plot_error)?;
        return Ok(());
    };
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 17))
        .margin(8)
        .x_label_area_size(40)
        .y_label_area_size(58)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(plot_error)?;
    let (log_x, log_y) = (panel.log_x, panel.log_y);
    let x_fmt =
        move |v: &f64| super::report::significant(if log_x { 10f64.powf(*v) } else { *v }, 3);
    let y_fmt =
        move |v: &f64| super::report::significant(if log_y { 10f64.powf(*v) } else { *v }, 3);
    chart
        .configure_mesh()
        .x_desc(panel.x_label.as_str())
        .y_desc(panel.y_label.as_str())
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .x_labels(6)
        .y_labels(6)
        .label_style(("sans-serif", 13))
        .light_line_style(RGBColor(240, 240, 240))
        .draw()
        .map_err(plot_error)?;

    for (x, label, c) in &panel.vlines {
        if let Some(x) = transform(*x, log_x) {
            let style = ShapeStyle::from(color(*c)).stroke_width(1);
            chart
                .draw_series(
                    dashes(&[(x, y0), (x, y1)], (x1 - x0, y1 - y0))
                        .map(|segment| PathElement::new(segment, style)),
                )
                .map_err(plot_error)?
                .label(label.as_str())
                .legend(move |(lx, ly)| PathElement::new(vec![(lx, ly), (lx + 18, ly)], style));
        }
    }
    for series in &panel.series {
        let c = color(series.color);
        let points: Vec<(f64, f64, f64, f64)> = series
            .points
            .iter()
            .filter_map(|p| {
                let x = transform(p.x, log_x)?;
                let y = transform(p.y, log_y)?;
                let err = if p.err.is_finite() { p.err } else { 0.0 };
                let lo = transform(p.y - err, log_y).unwrap_or(y);
                let hi = transform(p.y + err, log_y).unwrap_or(y);
                Some((x, y, lo, hi))
            })
            .collect();
        if points.is_empty() {
            continue;
        }
        let line: Vec<(f64, f64)> = points.iter().map(|p| (p.0, p.1)).collect();
        let style = ShapeStyle::from(c).stroke_width(2);
        let legend_style = style;
        let annotation = match series.style {
            Style::Theory => chart
                .draw_series(
                    dashes(&line, (x1 - x0, y1 - y0)).map(|seg| PathElement::new(seg, style)),
                )
                .map_err(plot_error)?,
            Style::Line => chart
                .draw_series(std::iter::once(PathElement::new(line.clone(), style)))
                .map_err(plot_error)?,
            Style::Scatter => chart
                .draw_series(
                    line.iter()
                        .map(|&p| Circle::new(p, 2, ShapeStyle::from(c.mix(0.5)).filled())),
                )
                .map_err(plot_error)?,
            Style::Measured | Style::MeasuredOpen => {
                if series.style == Style::Measured {
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            line.clone(),
                            ShapeStyle::from(c).stroke_width(1),
                        )))
                        .map_err(plot_error)?;
                }
                chart
                    .draw_series(points.iter().filter(|p| p.3 > p.2).map(|p| {
                        PathElement::new(
                            vec![(p.0, p.2), (p.0, p.3)],
                            ShapeStyle::from(c).stroke_width(1),
                        )
                    }))
                    .map_err(plot_error)?;
                let filled = series.style == Style::Measured;
                chart
                    .draw_series(line.iter().map(|&p| {
                        let s = ShapeStyle::from(c).stroke_width(2);
                        Circle::new(p, 4, if filled { s.filled() } else { s })
                    }))
                    .map_err(plot_error)?
            }
        };
        if !series.label.is_empty() {
            let dashed = series.style == Style::Theory;
            annotation
                .label(series.label.as_str())
                .legend(move |(x, y)| {
                    if dashed {
                        PathElement::new(vec![(x, y), (x + 7, y)], legend_style)
                    } else {
                        PathElement::new(vec![(x, y), (x + 18, y)], legend_style)
                    }
                });
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .label_font(("sans-serif", 12))
        .position(match panel.legend {
            Legend::UpperRight => SeriesLabelPosition::UpperRight,
            Legend::LowerLeft => SeriesLabelPosition::LowerLeft,
            Legend::LowerRight => SeriesLabelPosition::LowerRight,
        })
        .draw()
        .map_err(plot_error)?;
    Ok(())
}

/// Cuts a polyline into dashes of about 1/60 of the panel's diagonal (in drawn coordinates).
fn dashes(line: &[(f64, f64)], span: (f64, f64)) -> impl Iterator<Item = Vec<(f64, f64)>> {
    let dash = 1.0 / 60.0;
    let mut out = Vec::new();
    let mut on = true;
    let mut left = dash;
    for pair in line.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let (dx, dy) = ((b.0 - a.0) / span.0, (b.1 - a.1) / span.1);
        let length = (dx * dx + dy * dy).sqrt();
        let mut t = 0.0;
        while length > 0.0 && t < 1.0 {
            let step = (left / length).min(1.0 - t);
            let p = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
            let q = (
                a.0 + (b.0 - a.0) * (t + step),
                a.1 + (b.1 - a.1) * (t + step),
            );
            if on {
                out.push(vec![p, q]);
            }
            left -= step * length;
            t += step;
            if left <= 1e-12 {
                on = !on;
                left = dash;
            }
        }
    }
    out.into_iter()
}

fn draw_figure<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    panels: &[Panel],
    columns: usize,
) -> Result<(), ExperimentError> {
    root.fill(&WHITE).map_err(plot_error)?;
    let root = root.titled(title, ("sans-serif", 20)).map_err(plot_error)?;
    let rows = panels.len().div_ceil(columns).max(1);
    let areas = root.split_evenly((rows, columns));
    for (area, panel) in areas.iter().zip(panels) {
        draw_panel(area, panel)?;
    }
    root.present().map_err(plot_error)?;
    Ok(())
}

/// The pixel size of a figure with `panels` panels in `columns` columns.
pub fn figure_size(panels: usize, columns: usize) -> (u32, u32) {
    let rows = panels.div_ceil(columns).max(1) as u32;
    (460 * columns as u32, 360 * rows + 40)
}

/// Writes `svg` and `png` renderings of the panels (laid out in `columns` columns).
pub fn write_figure(
    panels: &[Panel],
    title: &str,
    columns: usize,
    svg: &Path,
    png: &Path,
) -> Result<(), ExperimentError> {
    register_font();
    let columns = columns.clamp(1, panels.len().max(1));
    let size = figure_size(panels.len(), columns);
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        draw_figure(root, title, panels, columns)?;
    }
    crate::output::write_atomic(svg, text.as_bytes())?;
    // The bitmap backend encodes by the file's extension: draw to a hidden `.png` beside the
    // target, then rename, so an interrupted run never leaves a partial figure.png.
    let partial = png.with_file_name(format!(
        ".{}.partial.png",
        png.file_stem().and_then(|s| s.to_str()).unwrap_or("figure")
    ));
    {
        let root = BitMapBackend::new(&partial, size).into_drawing_area();
        draw_figure(root, title, panels, columns)?;
    }
    std::fs::rename(&partial, png).map_err(|e| ExperimentError::io(png, e))?;
    Ok(())
}
