//! Shards: `--shard I/N` splits a job's batches into N shares of about equal cost, so that N
//! processes (array tasks of a cluster job, or `parallel` on one machine) train them side by
//! side into one output directory.
//!
//! The partition is the longest-processing-time rule: batches in decreasing order of cost
//! (ties by position), each to the share with the least cost so far (ties to the lowest
//! index). It depends only on the costs, so every shard computes the same partition without
//! talking to the others. Its largest share is at most the mean share plus the largest single
//! batch (the bound of any greedy list schedule), and within 4/3 of the best partition.

use std::fmt;
use std::str::FromStr;

use crate::ExperimentError;

/// Shard `index` of `count` (`--shard I/N`, 0 ≤ I < N).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which share, from 0.
    pub index: usize,
    /// How many shares.
    pub count: usize,
}

impl FromStr for Shard {
    type Err = ExperimentError;

    /// Parses `I/N`, e.g. `3/8`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text).map_err(|why| {
            ExperimentError::flag("--shard", format!("invalid value '{text}': {why}"))
        })
    }
}

impl Shard {
    /// Parses `I/N`; the error says what is wrong and what is expected (the command line's
    /// parser prints it after the flag and the value).
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("{why} (expected I/N with 0 ≤ I < N, e.g. 0/4)");
        let (i, n) = text.split_once('/').ok_or_else(|| bad("no '/'"))?;
        let index: usize = i
            .trim()
            .parse()
            .map_err(|_| bad("I is not a whole number"))?;
        let count: usize = n
            .trim()
            .parse()
            .map_err(|_| bad("N is not a whole number"))?;
        if count == 0 {
            return Err(bad("N must be at least 1"));
        }
        if index >= count {
            return Err(bad("I must be less than N"));
        }
        Ok(Self { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The share (0..`count`) of each batch, by the longest-processing-time rule over `costs`.
pub fn assign(costs: &[f64], count: usize) -> Vec<usize> {
    let count = count.max(1);
    let mut order: Vec<usize> = (0..costs.len()).collect();
    order.sort_by(|&a, &b| costs[b].total_cmp(&costs[a]).then(a.cmp(&b)));
    let mut load = vec![0.0f64; count];
    let mut share = vec![0; costs.len()];
    for k in order {
        let lightest = (0..count)
            .min_by(|&a, &b| load[a].total_cmp(&load[b]).then(a.cmp(&b)))
            .unwrap_or(0);
        share[k] = lightest;
        load[lightest] += costs[k];
    }
    share
}

impl Shard {
    /// Which of the batches with `costs` this shard trains, when the batches with equal
    /// `groups[k]` train together (see [`crate::sweep::batch_groups`]): the groups are shared
    /// out by their summed costs, and each batch goes with its group. With every batch in a
    /// group of its own this is [`Shard::select`].
    pub fn select_grouped(&self, costs: &[f64], groups: &[usize]) -> Vec<bool> {
        let mut index = std::collections::HashMap::new();
        let mut group_costs: Vec<f64> = Vec::new();
        let mut of_batch = Vec::with_capacity(groups.len());
        for (&group, &cost) in groups.iter().zip(costs) {
            let i = *index.entry(group).or_insert_with(|| {
                group_costs.push(0.0);
                group_costs.len() - 1
            });
            group_costs[i] += cost;
            of_batch.push(i);
        }
        let shares = assign(&group_costs, self.count);
        of_batch.iter().map(|&i| shares[i] == self.index).collect()
    }

    /// Which of the batches with `costs` this shard trains.
    pub fn select(&self, costs: &[f64]) -> Vec<bool> {
        assign(costs, self.count)
            .into_iter()
            .map(|s| s == self.index)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_shards_and_names_the_flag_for_bad_ones() {
        assert_eq!(
            "3/8".parse::<Shard>().expect("test step succeeds"),
            Shard { index: 3, count: 8 }
        );
        for bad in ["4/4", "5/4", "0/0", "1", "a/4", "1/b", "-1/4", ""] {
            let err = bad.parse::<Shard>().expect_err("the call fails");
            assert!(matches!(err, ExperimentError::Flag { .. }), "{bad}");
            assert!(
                err.to_string().starts_with("--shard: invalid value"),
                "{err}"
            );
        }
    }

    #[test]
    fn every_batch_lands_in_exactly_one_share_and_the_largest_share_is_bounded() {
        // Costs from a fixed recurrence, spread over three orders of magnitude.
        let costs: Vec<f64> = (0..97u64)
            .map(|k| 1.0 + ((k * 7919) % 1000) as f64)
            .collect();
        for count in [1, 2, 3, 8, 32, 200] {
            let shares = assign(&costs, count);
            let mut load = vec![0.0; count];
            for (k, &s) in shares.iter().enumerate() {
                assert!(s < count);
                load[s] += costs[k];
            }
            let total: f64 = costs.iter().sum();
            let largest = costs.iter().cloned().fold(0.0, f64::max);
            let max_load = load.iter().cloned().fold(0.0, f64::max);
            // Greedy list scheduling: makespan ≤ total / count + the largest job.
            assert!(max_load <= total / count as f64 + largest, "{count}");
            // And no schedule beats max(total / count, largest job).
            assert!(max_load >= (total / count as f64).max(largest) - 1e-9);
            // The selections of all shards partition the batches.
            let mut seen = vec![0; costs.len()];
            for index in 0..count {
                for (k, chosen) in (Shard { index, count })
                    .select(&costs)
                    .into_iter()
                    .enumerate()
                {
                    seen[k] += usize::from(chosen);
                }
            }
            assert!(seen.iter().all(|&c| c == 1));
        }
    }

    #[test]
    fn the_partition_balances_cost_not_count() {
        // One batch as dear as the other nine together: two shares split it 1 : 9.
        let mut costs = vec![100.0];
        costs.extend([100.0 / 9.0; 9]);
        let shares = assign(&costs, 2);
        assert_eq!(shares.iter().filter(|&&s| s == shares[0]).count(), 1);
    }
}
