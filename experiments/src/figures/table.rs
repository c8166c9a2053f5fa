//! Reading the tidy CSV files a sweep writes, and aggregating over seeds.

use std::collections::BTreeMap;
use std::path::Path;

use logit_reg_data::stats::{self, StdKind};

use crate::ExperimentError;

/// A CSV file held as text columns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    /// Column names.
    pub header: Vec<String>,
    /// Rows of fields.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// Parses CSV text (quoted fields as the `csv` crate writes them; rows may be shorter than
    /// the header).
    pub fn parse(text: &str) -> Result<Self, csv::Error> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(text.as_bytes());
        let header = reader.headers()?.iter().map(str::to_string).collect();
        let rows = reader
            .records()
            .map(|r| r.map(|r| r.iter().map(str::to_string).collect()))
            .collect::<Result<_, _>>()?;
        Ok(Self { header, rows })
    }

    /// Reads and parses a CSV file.
    pub fn read(path: &Path) -> Result<Self, ExperimentError> {
        let text = std::fs::read_to_string(path).map_err(|e| ExperimentError::io(path, e))?;
        Self::parse(&text).map_err(|e| ExperimentError::Io {
            path: path.display().to_string(),
            message: format!("not a valid CSV file: {e}"),
        })
    }

    /// The index of column `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// The rows as records (column name → field).
    pub fn records(&self) -> Vec<Record> {
        self.rows
            .iter()
            .map(|row| Record {
                fields: self
                    .header
                    .iter()
                    .cloned()
                    .zip(row.iter().cloned())
                    .collect(),
            })
            .collect()
    }
}

/// One row of a table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Record {
    /// Column name → field.
    pub fields: BTreeMap<String, String>,
}

impl Record {
    /// The field as text ("" when absent).
    pub fn text(&self, key: &str) -> &str {
        self.fields.get(key).map(String::as_str).unwrap_or("")
    }

    /// The field as a number (NaN when absent or not a number).
    pub fn num(&self, key: &str) -> f64 {
        self.text(key).trim().parse().unwrap_or(f64::NAN)
    }

    /// Whether the field is the number `value` (to 1e-9).
    pub fn is(&self, key: &str, value: f64) -> bool {
        (self.num(key) - value).abs() < 1e-9
    }
}

/// Mean, sample standard deviation (divisor n − 1; 0 for one value) and count of the finite
/// values (NaN mean when none): the spread over seeds.
pub fn mean_std(values: &[f64]) -> (f64, f64, usize) {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return (f64::NAN, f64::NAN, 0);
    }
    let (mean, std) = stats::mean_std(&finite, StdKind::Sample);
    (mean, std, finite.len())
}

/// The distinct values of a numeric column, sorted.
pub fn distinct(records: &[Record], key: &str) -> Vec<f64> {
    let mut values: Vec<f64> = records
        .iter()
        .map(|r| r.num(key))
        .filter(|v| v.is_finite())
        .collect();
    values.sort_by(f64::total_cmp);
    values.dedup_by(|a, b| (*a - *b).abs() < 1e-12);
    values
}

/// Per distinct `x` (sorted), the mean ± std of `y` over the records (the seeds).
pub fn curve(records: &[&Record], x: &str, y: &str) -> Vec<super::plot::Point> {
    let owned: Vec<Record> = records.iter().map(|r| (*r).clone()).collect();
    distinct(&owned, x)
        .into_iter()
        .map(|xv| {
            let ys: Vec<f64> = records
                .iter()
                .filter(|r| r.is(x, xv))
                .map(|r| r.num(y))
                .collect();
            let (mean, std, _) = mean_std(&ys);
            super::plot::Point {
                x: xv,
                y: mean,
                err: std,
            }
        })
        .collect()
}

/// Ordinary least squares `y = a + b x`: `(a, b, se_a, se_b, r²)`. NaNs when fewer than two
/// points (standard errors need three).
pub fn linear_fit(x: &[f64], y: &[f64]) -> (f64, f64, f64, f64, f64) {
    let n = x.len().min(y.len());
    if n < 2 {
        return (f64::NAN, f64::NAN, f64::NAN, f64::NAN, f64::NAN);
    }
    let nf = n as f64;
    let mx = x[..n].iter().sum::<f64>() / nf;
    let my = y[..n].iter().sum::<f64>() / nf;
    let sxx: f64 = x[..n].iter().map(|v| (v - mx).powi(2)).sum();
    let sxy: f64 = x[..n]
        .iter()
        .zip(&y[..n])
        .map(|(a, b)| (a - mx) * (b - my))
        .sum();
    let syy: f64 = y[..n].iter().map(|v| (v - my).powi(2)).sum();
    let b = sxy / sxx;
    let a = my - b * mx;
    let sse: f64 = x[..n]
        .iter()
        .zip(&y[..n])
        .map(|(u, v)| (v - a - b * u).powi(2))
        .sum();
    let r2 = if syy > 0.0 { 1.0 - sse / syy } else { 1.0 };
    if n < 3 {
        return (a, b, f64::NAN, f64::NAN, r2);
    }
    let s2 = sse / (nf - 2.0);
    let se_b = (s2 / sxx).sqrt();
    let se_a = (s2 * (1.0 / nf + mx * mx / sxx)).sqrt();
    (a, b, se_a, se_b, r2)
}

/// The first step at which `values` (pairs `(step, value)`, sorted by step) reaches `level`,
/// interpolated linearly in log(step) between the two logged steps around the crossing. `None`
/// when it never does.
pub fn first_crossing(values: &[(f64, f64)], level: f64) -> Option<f64> {
    let mut previous: Option<(f64, f64)> = None;
    for &(step, value) in values {
        if value >= level {
            return Some(match previous {
                Some((s0, v0)) if s0 > 0.0 && value > v0 => {
                    let t = (level - v0) / (value - v0);
                    (s0.ln() + t * (step.ln() - s0.ln())).exp()
                }
                _ => step,
            });
        }
        previous = Some((step, value));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_recovers_a_line_and_crossing_interpolates_in_log_step() {
        // y = 1 + 2x exactly: slope 2, intercept 1, r² = 1.
        let x = [0.0, 1.0, 2.0, 3.0];
        let y: Vec<f64> = x.iter().map(|v| 1.0 + 2.0 * v).collect();
        let (a, b, _, se_b, r2) = linear_fit(&x, &y);
        assert!((a - 1.0).abs() < 1e-12 && (b - 2.0).abs() < 1e-12);
        assert!(se_b.abs() < 1e-12 && (r2 - 1.0).abs() < 1e-12);
        // 0.5 at step 10, 1.0 at step 1000: 0.75 is halfway in log step, i.e. step 100.
        let c = first_crossing(&[(1.0, 0.0), (10.0, 0.5), (1000.0, 1.0)], 0.75);
        assert!((c.unwrap_or(0.0) - 100.0).abs() < 1e-9);
        assert_eq!(first_crossing(&[(1.0, 0.1)], 0.5), None);
        // Sample standard deviation of {1, 2, 3} is 1.
        let (m, s, n) = mean_std(&[1.0, 2.0, 3.0, f64::NAN]);
        assert_eq!((m, s, n), (2.0, 1.0, 3));
    }
}
