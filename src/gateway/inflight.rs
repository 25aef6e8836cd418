//! Requests in flight per account, so an account with a concurrency cap
//! (`--max-concurrency`) is passed over at its cap: subscriptions running many parallel
//! sessions are the ones vendors flag.

use foldhash::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct InFlight {
    counts: Mutex<HashMap<i64, usize>>,
}

/// One request on an account; the count goes down when it is dropped (the answer delivered,
/// the stream ended, the attempt failed).
pub struct Slot {
    map: Arc<InFlight>,
    account: i64,
}

impl InFlight {
    pub fn count(&self, account: i64) -> usize {
        self.counts
            .lock()
            .expect("in flight")
            .get(&account)
            .copied()
            .unwrap_or(0)
    }

    pub fn enter(self: &Arc<Self>, account: i64) -> Slot {
        *self
            .counts
            .lock()
            .expect("in flight")
            .entry(account)
            .or_default() += 1;
        Slot {
            map: self.clone(),
            account,
        }
    }

    /// Every account with requests in flight, for the console.
    pub fn all(&self) -> Vec<(i64, usize)> {
        let mut v: Vec<_> = self
            .counts
            .lock()
            .expect("in flight")
            .iter()
            .map(|(a, n)| (*a, *n))
            .filter(|(_, n)| *n > 0)
            .collect();
        v.sort();
        v
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.map.counts.lock().expect("in flight");
        if let Some(n) = counts.get_mut(&self.account) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.account);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_count_up_and_back_down() {
        let f = Arc::new(InFlight::default());
        let a = f.enter(1);
        let b = f.enter(1);
        assert_eq!(f.count(1), 2);
        drop(a);
        assert_eq!(f.count(1), 1);
        drop(b);
        assert_eq!(f.count(1), 0);
        assert!(f.all().is_empty());
    }
}
