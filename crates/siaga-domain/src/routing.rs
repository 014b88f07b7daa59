//! Ordering a product's usable routes by strategy (SPEC 7). Filtering (breaker, maintenance,
//! balance, concurrency limit, cost ≤ price) happens in the caller; this module only decides
//! the order in which the remaining routes are tried. Randomness comes in as parameters.

/// How the routes of a product are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Config order (`priority`, then input order).
    Priority,
    /// Lowest cost first, then priority.
    Cheapest,
    /// Lowest expected cost per success, from live success rate, latency and cost.
    Adaptive,
}

impl Strategy {
    pub const ALL: &'static [Strategy] =
        &[Strategy::Priority, Strategy::Cheapest, Strategy::Adaptive];

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Priority => "priority",
            Strategy::Cheapest => "cheapest",
            Strategy::Adaptive => "adaptive",
        }
    }

    pub fn parse(s: &str) -> Option<Strategy> {
        match s {
            "priority" => Some(Strategy::Priority),
            "cheapest" => Some(Strategy::Cheapest),
            "adaptive" => Some(Strategy::Adaptive),
            _ => None,
        }
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One usable route, as the caller sees it now.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The caller's route index; returned by [`order`].
    pub index: usize,
    /// Lower is tried first under `priority`.
    pub priority: i64,
    /// What the route costs us, in rupiah.
    pub cost: i64,
    /// Live success rate in `[0, 1]`; `None` when there are no samples.
    pub success_rate: Option<f64>,
    /// Live typical latency in ms; `None` when unknown.
    pub latency_ms: Option<f64>,
    /// How many attempts the live figures come from.
    pub samples: u64,
}

/// Knobs of the adaptive strategy.
#[derive(Debug, Clone)]
pub struct AdaptiveParams {
    /// Rupiah a millisecond of latency is worth (0.5).
    pub latency_rp_per_ms: f64,
    /// Share of orders that try a non-best route first, so a recovered supplier gets
    /// noticed (0.05).
    pub explore_share: f64,
    /// Floor on the success rate, so a dead route scores high but finite (0.02).
    pub min_success: f64,
}

impl Default for AdaptiveParams {
    fn default() -> Self {
        AdaptiveParams {
            latency_rp_per_ms: 0.5,
            explore_share: 0.05,
            min_success: 0.02,
        }
    }
}

/// Expected cost per success of one candidate, in rupiah:
/// `cost / max(p, min_success) + latency_ms · latency_rp_per_ms`.
/// A candidate without samples (or with an unusable rate) is treated optimistically,
/// `p = 1`, and so is a missing latency, `0`: a route we know nothing about is tried
/// rather than assumed to be as slow as the slowest one we do know, so traffic leaves a
/// slow supplier for an untried one without waiting for exploration.
pub fn adaptive_score(c: &Candidate, params: &AdaptiveParams) -> f64 {
    let floor = if params.min_success.is_finite() {
        params.min_success.clamp(f64::MIN_POSITIVE, 1.0)
    } else {
        AdaptiveParams::default().min_success
    };
    let p = match c.success_rate {
        Some(p) if c.samples > 0 && p.is_finite() => p.clamp(floor, 1.0),
        _ => 1.0,
    };
    let latency = match c.latency_ms {
        Some(l) if l.is_finite() && l >= 0.0 => l,
        _ => 0.0,
    };
    let rp_per_ms = if params.latency_rp_per_ms.is_finite() {
        params.latency_rp_per_ms.max(0.0)
    } else {
        0.0
    };
    c.cost as f64 / p + latency * rp_per_ms
}

/// The candidate indexes ([`Candidate::index`]) in the order to try. `roll` and `pick` are
/// uniform random numbers in `[0, 1)` from the caller.
///
/// - `Priority`: by `priority`, then input order.
/// - `Cheapest`: by `cost`, then `priority`, then input order.
/// - `Adaptive`: by [`adaptive_score`] (an unknown latency counts as 0), then
///   `priority`, then input order. Then, when
///   `roll < explore_share` and there are at least two candidates, one of the non-first
///   candidates is moved to the front: `pick` chooses it with weights `1 / (1 + samples)`,
///   so the least-sampled routes — those we know least about, such as a supplier that has
///   recovered while we avoided it — are preferred without excluding the others.
pub fn order(
    strategy: Strategy,
    cands: &[Candidate],
    params: &AdaptiveParams,
    roll: f64,
    pick: f64,
) -> Vec<usize> {
    let mut pos: Vec<usize> = (0..cands.len()).collect();
    match strategy {
        Strategy::Priority => pos.sort_by_key(|&i| cands[i].priority),
        Strategy::Cheapest => pos.sort_by_key(|&i| (cands[i].cost, cands[i].priority)),
        Strategy::Adaptive => {
            let scores: Vec<f64> = cands.iter().map(|c| adaptive_score(c, params)).collect();
            pos.sort_by(|&a, &b| {
                scores[a]
                    .total_cmp(&scores[b])
                    .then(cands[a].priority.cmp(&cands[b].priority))
            });
            if pos.len() >= 2 && roll < params.explore_share {
                let chosen = explore_pick(&pos[1..], cands, pick) + 1;
                let moved = pos.remove(chosen);
                pos.insert(0, moved);
            }
        }
    }
    pos.into_iter().map(|i| cands[i].index).collect()
}

/// Position in `rest` chosen by `pick`, weighted by `1 / (1 + samples)`.
fn explore_pick(rest: &[usize], cands: &[Candidate], pick: f64) -> usize {
    let weights: Vec<f64> = rest
        .iter()
        .map(|&i| 1.0 / (1.0 + cands[i].samples as f64))
        .collect();
    let total: f64 = weights.iter().sum();
    let pick = if pick.is_finite() {
        pick.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let mut target = pick * total;
    for (k, w) in weights.iter().enumerate() {
        if target < *w {
            return k;
        }
        target -= w;
    }
    rest.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(index: usize, priority: i64, cost: i64) -> Candidate {
        Candidate {
            index,
            priority,
            cost,
            success_rate: Some(1.0),
            latency_ms: Some(100.0),
            samples: 100,
        }
    }

    const NO_EXPLORE: f64 = 0.99;

    #[test]
    fn names() {
        for s in Strategy::ALL {
            assert_eq!(Strategy::parse(s.as_str()), Some(*s));
        }
        assert_eq!(Strategy::parse("fastest"), None);
        assert_eq!(Strategy::Adaptive.to_string(), "adaptive");
    }

    #[test]
    fn empty_input() {
        let p = AdaptiveParams::default();
        for s in Strategy::ALL {
            assert!(order(*s, &[], &p, 0.0, 0.0).is_empty());
        }
    }

    #[test]
    fn single_candidate_never_explores() {
        let p = AdaptiveParams::default();
        assert_eq!(
            order(Strategy::Adaptive, &[cand(7, 1, 100)], &p, 0.0, 0.5),
            vec![7]
        );
    }

    #[test]
    fn priority_then_input_order() {
        let c = vec![
            cand(10, 2, 100),
            cand(11, 1, 500),
            cand(12, 2, 50),
            cand(13, 1, 10),
        ];
        let p = AdaptiveParams::default();
        assert_eq!(
            order(Strategy::Priority, &c, &p, 0.0, 0.0),
            vec![11, 13, 10, 12]
        );
    }

    #[test]
    fn cheapest_then_priority() {
        let c = vec![
            cand(0, 3, 100),
            cand(1, 1, 200),
            cand(2, 2, 100),
            cand(3, 0, 50),
        ];
        let p = AdaptiveParams::default();
        assert_eq!(
            order(Strategy::Cheapest, &c, &p, 0.0, 0.0),
            vec![3, 2, 0, 1]
        );
    }

    #[test]
    fn adaptive_low_success_pushes_back() {
        let mut cheap_flaky = cand(0, 1, 10_000);
        cheap_flaky.success_rate = Some(0.5);
        let dear_solid = cand(1, 2, 10_500);
        let p = AdaptiveParams::default();
        // 10 000 / 0.5 = 20 000 > 10 500.
        assert_eq!(
            order(
                Strategy::Adaptive,
                &[cheap_flaky.clone(), dear_solid.clone()],
                &p,
                NO_EXPLORE,
                0.0
            ),
            vec![1, 0]
        );
        cheap_flaky.success_rate = Some(0.98);
        assert_eq!(
            order(
                Strategy::Adaptive,
                &[cheap_flaky, dear_solid],
                &p,
                NO_EXPLORE,
                0.0
            ),
            vec![0, 1]
        );
    }

    #[test]
    fn adaptive_high_latency_pushes_back() {
        let mut slow = cand(0, 1, 10_000);
        slow.latency_ms = Some(5_000.0); // worth 2 500 rupiah
        let fast = cand(1, 2, 11_000);
        let p = AdaptiveParams::default();
        assert_eq!(
            order(
                Strategy::Adaptive,
                &[slow.clone(), fast.clone()],
                &p,
                NO_EXPLORE,
                0.0
            ),
            vec![1, 0]
        );
        slow.latency_ms = Some(1_000.0); // worth 500 rupiah
        assert_eq!(
            order(Strategy::Adaptive, &[slow, fast], &p, NO_EXPLORE, 0.0),
            vec![0, 1]
        );
    }

    #[test]
    fn adaptive_dead_route_floor_and_ties() {
        let mut dead = cand(0, 0, 100);
        dead.success_rate = Some(0.0);
        let a = cand(1, 5, 1_000);
        let b = cand(2, 3, 1_000);
        let p = AdaptiveParams::default();
        // dead: 100 / 0.02 = 5 000 (+50) > 1 050; a and b tie, priority decides.
        assert_eq!(
            order(Strategy::Adaptive, &[dead, a, b], &p, NO_EXPLORE, 0.0),
            vec![2, 1, 0]
        );
    }

    #[test]
    fn adaptive_leaves_a_known_slow_route_for_an_untried_one() {
        // The cheaper route is known to take 300 ms (150 rupiah); the other is 50 rupiah
        // dearer and untried. It must be tried, not assumed to be just as slow.
        let mut slow = cand(0, 1, 10_150);
        slow.success_rate = Some(1.0);
        slow.latency_ms = Some(300.0);
        slow.samples = 6;
        let mut untried = cand(1, 2, 10_200);
        untried.success_rate = None;
        untried.latency_ms = None;
        untried.samples = 0;
        let p = AdaptiveParams::default();
        assert_eq!(
            order(Strategy::Adaptive, &[slow, untried], &p, NO_EXPLORE, 0.0),
            vec![1, 0]
        );
    }

    #[test]
    fn adaptive_unsampled_is_optimistic() {
        let mut fresh = cand(0, 9, 1_000);
        fresh.success_rate = None;
        fresh.latency_ms = None;
        fresh.samples = 0;
        let mut known = cand(1, 1, 1_000);
        known.success_rate = Some(0.99);
        known.latency_ms = Some(200.0);
        let mut faster = cand(2, 2, 1_000);
        faster.success_rate = Some(0.9);
        faster.latency_ms = Some(50.0);
        let p = AdaptiveParams::default();
        // fresh: 1 000 + 0 (latency unknown); known: 1 010.1 + 100; faster: 1 111.1 + 25.
        assert_eq!(
            order(
                Strategy::Adaptive,
                &[fresh.clone(), known.clone(), faster],
                &p,
                NO_EXPLORE,
                0.0
            ),
            vec![0, 1, 2]
        );
        assert!((adaptive_score(&fresh, &p) - 1_000.0).abs() < 1e-9);
        // A rate reported with zero samples is ignored.
        let mut zero = known.clone();
        zero.samples = 0;
        zero.success_rate = Some(0.1);
        assert!((adaptive_score(&zero, &p) - 1_100.0).abs() < 1e-9);
    }

    #[test]
    fn exploration_only_when_roll_below_share() {
        let c = vec![cand(0, 1, 100), cand(1, 2, 200), cand(2, 3, 300)];
        let p = AdaptiveParams::default();
        assert_eq!(order(Strategy::Adaptive, &c, &p, 0.05, 0.0), vec![0, 1, 2]);
        assert_eq!(order(Strategy::Adaptive, &c, &p, 0.5, 0.9), vec![0, 1, 2]);
        // Equal samples: pick is uniform over the non-first ones.
        assert_eq!(order(Strategy::Adaptive, &c, &p, 0.049, 0.0), vec![1, 0, 2]);
        assert_eq!(order(Strategy::Adaptive, &c, &p, 0.0, 0.49), vec![1, 0, 2]);
        assert_eq!(order(Strategy::Adaptive, &c, &p, 0.0, 0.5), vec![2, 0, 1]);
        assert_eq!(order(Strategy::Adaptive, &c, &p, 0.0, 0.999), vec![2, 0, 1]);
        // Out-of-range or NaN picks stay in range.
        assert_eq!(order(Strategy::Adaptive, &c, &p, 0.0, 7.0), vec![2, 0, 1]);
        assert_eq!(
            order(Strategy::Adaptive, &c, &p, 0.0, f64::NAN),
            vec![1, 0, 2]
        );
        // NaN roll never explores; other strategies never explore.
        assert_eq!(
            order(Strategy::Adaptive, &c, &p, f64::NAN, 0.9),
            vec![0, 1, 2]
        );
        assert_eq!(order(Strategy::Priority, &c, &p, 0.0, 0.9), vec![0, 1, 2]);
        assert_eq!(order(Strategy::Cheapest, &c, &p, 0.0, 0.9), vec![0, 1, 2]);
        let off = AdaptiveParams {
            explore_share: 0.0,
            ..AdaptiveParams::default()
        };
        assert_eq!(order(Strategy::Adaptive, &c, &off, 0.0, 0.9), vec![0, 1, 2]);
    }

    #[test]
    fn exploration_prefers_least_sampled() {
        let mut c = vec![cand(0, 1, 100), cand(1, 2, 200), cand(2, 3, 300)];
        c[1].samples = 999; // weight 0.001
        c[2].samples = 0; // weight 1
        c[2].success_rate = Some(0.1); // last, a supplier that looked bad
        let p = AdaptiveParams::default();
        let mut to_front = [0usize; 3];
        for k in 0..1000 {
            let pick = f64::from(k) / 1000.0;
            let o = order(Strategy::Adaptive, &c, &p, 0.0, pick);
            assert_ne!(o[0], 0);
            to_front[o[0]] += 1;
        }
        assert!(to_front[2] > 990, "{to_front:?}");
        assert!(to_front[1] >= 1, "{to_front:?}");
    }
}
