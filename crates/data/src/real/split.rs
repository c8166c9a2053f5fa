//! Deterministic stratified train/test splits, and standardisation.

use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::LoadError;
use crate::{MultiClassDataset, MultiClassSplit, Stream, stream_rng};

/// How the training samples are spread over the classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SplitMode {
    /// In proportion to the class sizes: class `c` with `n_c` of the `n` samples gets
    /// `⌊n_train · n_c / n⌋` training samples, and the samples left over go to the classes with
    /// the largest remainders (ties: the lower class index).
    Stratified,
    /// The same number in every class: `⌊n_train / k⌋`, plus one for the first
    /// `n_train mod k` classes.
    Balanced,
}

/// Splits `set` into `n_train` training samples and the rest as test samples.
///
/// Within each class the samples are shuffled by the seed's [`Stream::Split`] stream and the
/// first ones (by [`SplitMode`]'s quota) go to training. Both parts keep the original sample
/// order, so the same `(set, n_train, mode, seed)` always gives the same bytes, and a
/// different seed a different split.
///
/// # Errors
/// [`LoadError::OutOfRange`] on `n_train` when it is 0, leaves no test sample, or (balanced)
/// asks a class for more samples than it has, or leaves a class without a training sample
/// (stratified, when `n_train` is too small for every class to get one).
pub fn split(
    set: &MultiClassDataset,
    n_train: usize,
    mode: SplitMode,
    seed: u64,
) -> Result<MultiClassSplit, LoadError> {
    split_with(set, n_train, mode, seed, Stream::Split)
}

/// [`split`] with the shuffles drawn from `stream` of `seed` (an embedding network's own split
/// uses [`Stream::EmbedSplit`], so that it is independent of the probe's).
pub fn split_with(
    set: &MultiClassDataset,
    n_train: usize,
    mode: SplitMode,
    seed: u64,
    stream: Stream,
) -> Result<MultiClassSplit, LoadError> {
    let (n, k, d) = (set.n, set.k, set.d);
    let out_of_range = |allowed: String| LoadError::OutOfRange {
        field: "n_train",
        value: n_train.to_string(),
        allowed,
    };
    if !(1..n).contains(&n_train) {
        return Err(out_of_range(format!(
            "1..={} (the data set has {n} samples; at least one is kept for the test set)",
            n.saturating_sub(1)
        )));
    }
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); k];
    for (i, &c) in set.labels.iter().enumerate() {
        by_class[c].push(i);
    }
    let sizes: Vec<usize> = by_class.iter().map(Vec::len).collect();
    let quota = match mode {
        SplitMode::Balanced => {
            let quota: Vec<usize> = (0..k)
                .map(|c| n_train / k + usize::from(c < n_train % k))
                .collect();
            if let Some(c) = (0..k).find(|&c| quota[c] > sizes[c]) {
                return Err(out_of_range(format!(
                    "at most {} for a balanced split: class {c} has {} samples and would need {}",
                    sizes[c] * k,
                    sizes[c],
                    quota[c]
                )));
            }
            quota
        }
        SplitMode::Stratified => {
            let share = |c: usize| (n_train as u128 * sizes[c] as u128) as f64 / n as f64;
            let mut quota: Vec<usize> = (0..k)
                .map(|c| (n_train as u128 * sizes[c] as u128 / n as u128) as usize)
                .collect();
            let mut order: Vec<usize> = (0..k).collect();
            order.sort_by(|&a, &b| {
                let (ra, rb) = (share(a).fract(), share(b).fract());
                rb.total_cmp(&ra).then(a.cmp(&b))
            });
            let missing = n_train - quota.iter().sum::<usize>();
            for &c in order.iter().take(missing) {
                quota[c] += 1;
            }
            if let Some(c) = (0..k).find(|&c| sizes[c] > 0 && quota[c] == 0) {
                return Err(out_of_range(format!(
                    "large enough for every class to get a training sample (class {c} has {} \
                     of {n} samples and gets none)",
                    sizes[c]
                )));
            }
            quota
        }
    };
    let mut rng = stream_rng(seed, stream);
    let mut train_rows = Vec::with_capacity(n_train);
    let mut test_rows = Vec::with_capacity(n - n_train);
    for (members, &take) in by_class.iter_mut().zip(&quota) {
        members.shuffle(&mut rng);
        train_rows.extend_from_slice(&members[..take]);
        test_rows.extend_from_slice(&members[take..]);
    }
    train_rows.sort_unstable();
    test_rows.sort_unstable();
    let gather = |rows: &[usize]| MultiClassDataset {
        n: rows.len(),
        d,
        k,
        x: rows
            .iter()
            .flat_map(|&i| set.x[i * d..(i + 1) * d].iter().copied())
            .collect(),
        labels: rows.iter().map(|&i| set.labels[i]).collect(),
    };
    Ok(MultiClassSplit {
        train: gather(&train_rows),
        test: gather(&test_rows),
    })
}

/// Standardises every feature with the training set's statistics:
/// `x ← (x − m_j) / s_j` on train and test, with `m_j` the training mean of feature `j` and
/// `s_j` its standard deviation over the training set (divisor N). A feature that is constant
/// on the training set (`s_j = 0`, e.g. a border pixel) is only centred. Returns `(m, s)`.
pub fn standardise(parts: &mut MultiClassSplit) -> (Vec<f64>, Vec<f64>) {
    let d = parts.train.d;
    let n = parts.train.n as f64;
    let mut mean = vec![0.0; d];
    for row in parts.train.x.chunks_exact(d) {
        mean.iter_mut().zip(row).for_each(|(m, v)| *m += v);
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut var = vec![0.0; d];
    for row in parts.train.x.chunks_exact(d) {
        for ((s, v), m) in var.iter_mut().zip(row).zip(&mean) {
            *s += (v - m) * (v - m);
        }
    }
    let std: Vec<f64> = var.iter().map(|s| (s / n).sqrt()).collect();
    for set in [&mut parts.train, &mut parts.test] {
        for row in set.x.chunks_exact_mut(d) {
            for ((v, m), s) in row.iter_mut().zip(&mean).zip(&std) {
                *v = if *s > 0.0 { (*v - m) / s } else { *v - m };
            }
        }
    }
    (mean, std)
}

/// Salt-and-pepper (impulse) noise: each value of `set` is replaced, with probability `p`, by
/// the smallest or (with equal chance) the largest value of the whole set, drawn from the
/// stream [`Stream::Corrupt`] of `seed`. The analogue of CIFAR-10-C's impulse noise.
pub fn corrupt(set: &mut MultiClassDataset, p: f64, seed: u64) {
    use rand::RngExt;
    if p <= 0.0 {
        return;
    }
    let lo = set.x.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = set.x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut rng = stream_rng(seed, Stream::Corrupt);
    for v in &mut set.x {
        if rng.random_bool(p.min(1.0)) {
            *v = if rng.random_bool(0.5) { lo } else { hi };
        }
    }
}
