//! Misbehaviour scores: per host, decaying exponentially with a half-life.

use std::{
    collections::HashMap,
    time::{Duration, SystemTime},
};

use umbra_p2p_core::ZoneAddr;

/// A score at or below this is forgotten when room is needed (it has decayed to nothing).
const NEGLIGIBLE: f64 = 0.5;

#[derive(Debug, Clone, Copy)]
struct Score {
    value: f64,
    at: SystemTime,
}

/// `score` decayed from when it was set to `now`: halved every `half_life`. A clock that
/// went backwards decays nothing; a zero half-life forgets at once.
fn decay(half_life: Duration, score: Score, now: SystemTime) -> f64 {
    if half_life.is_zero() {
        return 0.0;
    }
    let elapsed = now.duration_since(score.at).unwrap_or(Duration::ZERO);
    score.value * 0.5f64.powf(elapsed.as_secs_f64() / half_life.as_secs_f64())
}

/// Decaying misbehaviour scores of at most `max` hosts, keyed by ban key.
#[derive(Debug, Clone)]
pub(crate) struct Scores<A> {
    scores: HashMap<A, Score>,
    half_life: Duration,
    max: usize,
}

impl<A: ZoneAddr> Scores<A> {
    pub(crate) fn new(max: usize, half_life: Duration) -> Self {
        Self {
            scores: HashMap::new(),
            half_life,
            max,
        }
    }

    fn decayed(&self, score: Score, now: SystemTime) -> f64 {
        decay(self.half_life, score, now)
    }

    /// Adds `points` to `key`'s decayed score and returns the new score. At the bound,
    /// scores that decayed to nothing go first, then the lowest one (possibly the new
    /// host's own, which is then not kept).
    pub(crate) fn add(&mut self, key: &A, points: u32, now: SystemTime) -> f64 {
        let previous = self
            .scores
            .get(key)
            .map_or(0.0, |score| self.decayed(*score, now));
        let value = previous + f64::from(points);
        let score = Score { value, at: now };
        if let Some(slot) = self.scores.get_mut(key) {
            *slot = score;
            return value;
        }
        if self.max == 0 {
            return value;
        }
        if self.scores.len() >= self.max {
            let half_life = self.half_life;
            self.scores
                .retain(|_, score| decay(half_life, *score, now) > NEGLIGIBLE);
        }
        if self.scores.len() >= self.max {
            let lowest = self
                .scores
                .iter()
                .map(|(k, s)| (k, self.decayed(*s, now)))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(k, v)| (k.clone(), v));
            match lowest {
                Some((_, lowest)) if lowest > value => return value,
                Some((victim, _)) => {
                    self.scores.remove(&victim);
                }
                None => {}
            }
        }
        self.scores.insert(key.clone(), score);
        value
    }

    /// `key`'s current score (0 if none).
    pub(crate) fn get(&self, key: &A, now: SystemTime) -> f64 {
        self.scores
            .get(key)
            .map_or(0.0, |score| self.decayed(*score, now))
    }

    /// Forgets `key`'s score (it was banned or unbanned).
    pub(crate) fn remove(&mut self, key: &A) {
        self.scores.remove(key);
    }

    /// Hosts with a score.
    pub(crate) fn len(&self) -> usize {
        self.scores.len()
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;

    fn host(i: u8) -> SocketAddr {
        SocketAddr::from(([1, 2, 3, i], 0))
    }

    #[test]
    fn scores_halve_every_half_life() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut scores = Scores::new(10, Duration::from_secs(60));
        assert!((scores.add(&host(1), 80, t0) - 80.0).abs() < 1e-9);
        assert!((scores.get(&host(1), t0 + Duration::from_secs(60)) - 40.0).abs() < 1e-9);
        assert!((scores.get(&host(1), t0 + Duration::from_secs(120)) - 20.0).abs() < 1e-9);
        let after = scores.add(&host(1), 10, t0 + Duration::from_secs(120));
        assert!((after - 30.0).abs() < 1e-9);
        // A clock that goes backwards does not inflate or decay.
        assert!((scores.get(&host(1), t0) - 30.0).abs() < 1e-9);
    }

    #[test]
    fn at_the_bound_the_lowest_score_goes() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut scores = Scores::new(3, Duration::from_secs(60));
        scores.add(&host(1), 10, t0);
        scores.add(&host(2), 50, t0);
        scores.add(&host(3), 30, t0);
        scores.add(&host(4), 20, t0);
        assert_eq!(scores.len(), 3);
        assert!(scores.get(&host(1), t0) < 1e-9, "the lowest was dropped");
        assert!(scores.get(&host(4), t0) > 19.0);
        // Lower than every kept score: not kept.
        scores.add(&host(5), 1, t0);
        assert!(scores.get(&host(5), t0) < 1e-9);
        // Decayed scores make room first.
        let much_later = t0 + Duration::from_secs(3600);
        scores.add(&host(6), 1, much_later);
        assert_eq!(scores.len(), 1);
    }
}
