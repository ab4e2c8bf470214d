//! The thread shape our figures use (DESIGN.md, "Storage choices"): about a fifth of the comments
//! top-level; replies go mostly to a few busy roots (Pareto-distributed popularity), some to any
//! comment, and a tenth extend long reply chains that run up to about 60 deep; scores are skewed,
//! a few negative. A [`Thread`] is a plan only: indices, not database ids, so that the same seed
//! always gives the same thread.

use rand::Rng;

/// Share of comments that are top-level.
const TOP_LEVEL: f64 = 0.20;
/// Share of comments that extend a long reply chain.
const CHAIN: f64 = 0.10;
/// Share of comments that reply somewhere under a busy root (the rest reply to any comment).
const BUSY_ROOT: f64 = 0.55;
/// Pareto shape of a root's popularity: about the 80/20 rule.
const ROOT_POPULARITY_ALPHA: f64 = 1.16;
/// While walking down from a root to pick a parent, the chance of stopping at each level.
const STOP_DESCENT: f64 = 0.55;
/// Chains that grow at the same time; each runs until it reaches its own target depth.
const ACTIVE_CHAINS: usize = 2;
const CHAIN_DEPTH: std::ops::RangeInclusive<u32> = 20..=60;
/// Pareto shape of the number of votes a comment gets (most get none, a few get very many).
const VOTES_ALPHA: f64 = 1.6;

/// One planned comment.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// Index of the parent in the plan (always smaller than this comment's own index).
    pub parent: Option<usize>,
    pub depth: u32,
    /// Up and down votes, from distinct voters.
    pub up: u32,
    pub down: u32,
    /// Words in the comment's text.
    pub words: u32,
}

/// A whole thread, in creation order.
#[derive(Debug, Clone, PartialEq)]
pub struct Thread {
    pub comments: Vec<Planned>,
}

struct Chain {
    tip: usize,
    target_depth: u32,
}

/// A Pareto(1, alpha) draw: at least 1, heavy-tailed.
fn pareto(rng: &mut impl Rng, alpha: f64) -> f64 {
    let u: f64 = rng.gen();
    (1.0 - u).powf(-1.0 / alpha)
}

/// Plan a thread of `size` comments; `voters` bounds the votes one comment can get.
pub fn generate(rng: &mut impl Rng, size: usize, voters: u32) -> Thread {
    let mut comments: Vec<Planned> = Vec::with_capacity(size);
    let mut children: Vec<Vec<usize>> = Vec::with_capacity(size);
    let mut roots: Vec<usize> = Vec::new();
    // Cumulative popularity of `roots`, for picking a root in proportion to its popularity.
    let mut popularity: Vec<f64> = Vec::new();
    let mut chains: Vec<Chain> = Vec::new();

    for i in 0..size {
        let roll: f64 = rng.gen();
        let mut extends_chain = None;
        let parent = if i == 0 || roll < TOP_LEVEL {
            None
        } else if roll < TOP_LEVEL + CHAIN {
            if chains.len() < ACTIVE_CHAINS {
                // A chain starts at a shallow comment so that it ends near its target depth.
                let start = (0..8)
                    .map(|_| rng.gen_range(0..i))
                    .find(|&s| comments[s].depth < *CHAIN_DEPTH.start())
                    .unwrap_or(0);
                chains.push(Chain {
                    tip: start,
                    target_depth: rng.gen_range(CHAIN_DEPTH),
                });
            }
            let c = rng.gen_range(0..chains.len());
            extends_chain = Some(c);
            Some(chains[c].tip)
        } else if roll < TOP_LEVEL + CHAIN + BUSY_ROOT {
            let total = popularity.last().copied().unwrap_or(0.0);
            let pick = rng.gen::<f64>() * total;
            let r = popularity.partition_point(|&cum| cum <= pick);
            let mut node = roots[r.min(roots.len() - 1)];
            while !children[node].is_empty() && rng.gen::<f64>() >= STOP_DESCENT {
                node = children[node][rng.gen_range(0..children[node].len())];
            }
            Some(node)
        } else {
            Some(rng.gen_range(0..i))
        };

        let depth = parent.map_or(0, |p| comments[p].depth + 1);
        // A root's popularity brings it votes as well as replies.
        let weight = if parent.is_none() {
            pareto(rng, ROOT_POPULARITY_ALPHA)
        } else {
            1.0
        };
        let votes = ((pareto(rng, VOTES_ALPHA) - 2.0 + weight) as u32).min(voters);
        let up_share = match rng.gen_range(0..100) {
            0..=84 => 0.9,
            85..=94 => 0.55,
            _ => 0.15,
        };
        let up = (0..votes).filter(|_| rng.gen::<f64>() < up_share).count() as u32;
        let words = rng.gen_range(1..=12) * rng.gen_range(1..=6);
        comments.push(Planned {
            parent,
            depth,
            up,
            down: votes - up,
            words,
        });
        children.push(Vec::new());

        match parent {
            None => {
                roots.push(i);
                let previous = popularity.last().copied().unwrap_or(0.0);
                popularity.push(previous + weight);
            }
            Some(p) => {
                children[p].push(i);
                if let Some(c) = extends_chain {
                    chains[c].tip = i;
                    if depth >= chains[c].target_depth {
                        chains.swap_remove(c);
                    }
                }
            }
        }
    }
    Thread { comments }
}

impl Thread {
    pub fn top_level(&self) -> usize {
        self.comments.iter().filter(|c| c.parent.is_none()).count()
    }

    pub fn max_depth(&self) -> u32 {
        self.comments.iter().map(|c| c.depth).max().unwrap_or(0)
    }

    /// Direct replies of the busiest comment.
    pub fn max_children(&self) -> usize {
        let mut counts = vec![0usize; self.comments.len()];
        for p in self.comments.iter().filter_map(|c| c.parent) {
            counts[p] += 1;
        }
        counts.into_iter().max().unwrap_or(0)
    }

    pub fn negative(&self) -> usize {
        self.comments.iter().filter(|c| c.down > c.up).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn thread(seed: u64, size: usize) -> Thread {
        generate(&mut StdRng::seed_from_u64(seed), size, 150)
    }

    #[test]
    fn same_seed_gives_the_same_thread() {
        assert_eq!(thread(7, 3000), thread(7, 3000));
    }

    #[test]
    fn parents_come_first_and_depths_follow_parents() {
        let t = thread(1, 5000);
        for (i, c) in t.comments.iter().enumerate() {
            match c.parent {
                None => assert_eq!(c.depth, 0),
                Some(p) => {
                    assert!(p < i);
                    assert_eq!(c.depth, t.comments[p].depth + 1);
                }
            }
        }
    }

    #[test]
    fn shape_matches_the_design() {
        let t = thread(2, 50_000);
        let top = t.top_level() as f64 / 50_000.0;
        assert!((0.18..0.22).contains(&top), "top-level share {top}");
        assert!(
            (40..=60).contains(&t.max_depth()),
            "max depth {}",
            t.max_depth()
        );
        assert!(t.max_children() > 500, "busiest {}", t.max_children());
        assert!(t.negative() > 0);
        assert!(t.comments.iter().all(|c| c.up + c.down <= 150));
    }
}
