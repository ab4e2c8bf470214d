//! Summaries of timing samples.

use std::time::Duration;

/// p50, p99 and mean of a set of durations, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub p50: f64,
    pub p99: f64,
    pub mean: f64,
    pub samples: usize,
}

/// Nearest-rank percentile of sorted values: the smallest value with at least `q` of the
/// samples at or below it.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn summarise(samples: &[Duration]) -> Summary {
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    let mean = if ms.is_empty() {
        f64::NAN
    } else {
        ms.iter().sum::<f64>() / ms.len() as f64
    };
    Summary {
        p50: percentile(&ms, 0.50),
        p99: percentile(&ms, 0.99),
        mean,
        samples: ms.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<Duration> = (1..=200).map(Duration::from_millis).collect();
        let s = summarise(&samples);
        assert_eq!(s.p50, 100.0);
        assert_eq!(s.p99, 198.0);
        assert_eq!(s.mean, 100.5);
        assert_eq!(s.samples, 200);
    }

    #[test]
    fn one_sample_is_every_percentile() {
        let s = summarise(&[Duration::from_millis(3)]);
        assert_eq!((s.p50, s.p99), (3.0, 3.0));
    }
}
