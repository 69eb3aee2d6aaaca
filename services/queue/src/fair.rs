//! The order in which a launcher serves clients with work: round-robin, with
//! clients that have just become active served before those that have been
//! busy (the "new flows first" rule of fq_codel). Pure bookkeeping, no I/O:
//! [`crate::dispatch`] feeds it wakes and fetch results.
//!
//! The bound this gives: a client's backlog delays another client's run by
//! at most one of its runs per slot. A client that has been served with runs
//! still queued goes to the back of the busy list, behind every other client
//! waiting there; a client whose queue that run emptied is forgotten, so its
//! next submission makes it new again, and a newly woken client goes ahead
//! of every busy one. A polite client (one run at a time) is new at each
//! submission, so a flood by others never stands before it, only the runs
//! already holding slots do.
//!
//! Clients are kept per plan so that a filter on plans (anonymous work at its
//! share of the slots) costs O(1) instead of a scan; a global arrival stamp
//! keeps the round-robin order across plans.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

use crate::client::Plan;

/// Where a known client stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In one of the lists, waiting for its turn.
    Waiting,
    /// Handed out by [`Fair::pick`]; `woken` if a wake came meanwhile (so an
    /// empty fetch does not forget work that arrived during it).
    Picked { woken: bool },
    /// Has runs queued but is at its concurrency cap: out of the lists until
    /// a wake says a run of it ended, and then back among the busy clients,
    /// not the new ones (a flood at its cap must not pass for newcomers).
    Parked,
}

/// One plan's lists: newly active clients, then clients served before.
#[derive(Debug)]
struct Lists<K> {
    new: VecDeque<(u64, K)>,
    old: VecDeque<(u64, K)>,
}

impl<K> Default for Lists<K> {
    fn default() -> Self {
        Self {
            new: VecDeque::new(),
            old: VecDeque::new(),
        }
    }
}

/// The round-robin state of one launcher. `K` names a client.
#[derive(Debug)]
pub struct Fair<K> {
    anon: Lists<K>,
    tenant: Lists<K>,
    state: HashMap<K, State>,
    stamp: u64,
}

impl<K> Default for Fair<K> {
    fn default() -> Self {
        Self {
            anon: Lists::default(),
            tenant: Lists::default(),
            state: HashMap::new(),
            stamp: 0,
        }
    }
}

impl<K: Clone + Eq + Hash> Fair<K> {
    /// An empty schedule.
    pub fn new() -> Self {
        Self::default()
    }

    fn lists(&mut self, plan: Plan) -> &mut Lists<K> {
        match plan {
            Plan::Anonymous => &mut self.anon,
            Plan::Tenant => &mut self.tenant,
        }
    }

    fn next_stamp(&mut self) -> u64 {
        self.stamp += 1;
        self.stamp
    }

    /// Clients known (waiting or picked).
    pub fn len(&self) -> usize {
        self.state.len()
    }

    /// Whether no client is known.
    pub fn is_empty(&self) -> bool {
        self.state.is_empty()
    }

    /// Whether any client of `plan` is waiting for a turn.
    pub fn has_waiting(&self, plan: Plan) -> bool {
        let l = match plan {
            Plan::Anonymous => &self.anon,
            Plan::Tenant => &self.tenant,
        };
        !l.new.is_empty() || !l.old.is_empty()
    }

    /// `client` may have work: a client not yet known joins the new list.
    pub fn wake(&mut self, plan: Plan, client: K) {
        match self.state.get_mut(&client) {
            None => {
                self.state.insert(client.clone(), State::Waiting);
                let stamp = self.next_stamp();
                self.lists(plan).new.push_back((stamp, client));
            }
            Some(State::Picked { woken }) => *woken = true,
            Some(State::Parked) => {
                self.state.insert(client.clone(), State::Waiting);
                let stamp = self.next_stamp();
                self.lists(plan).old.push_back((stamp, client));
            }
            Some(State::Waiting) => {}
        }
    }

    /// The next client to fetch from, among the plans `eligible` allows:
    /// the longest-waiting new client, else the longest-waiting busy one.
    /// The caller reports back with [`Fair::served`] or [`Fair::empty`].
    pub fn pick(&mut self, eligible: impl Fn(Plan) -> bool) -> Option<(Plan, K)> {
        let plans: Vec<Plan> = Plan::ALL.into_iter().filter(|p| eligible(*p)).collect();
        for new in [true, false] {
            let head = |l: &Lists<K>| {
                let q = if new { &l.new } else { &l.old };
                q.front().map(|(stamp, _)| *stamp)
            };
            let best = plans
                .iter()
                .filter_map(|p| {
                    let l = match p {
                        Plan::Anonymous => &self.anon,
                        Plan::Tenant => &self.tenant,
                    };
                    head(l).map(|s| (s, *p))
                })
                .min();
            if let Some((_, plan)) = best {
                let l = self.lists(plan);
                let q = if new { &mut l.new } else { &mut l.old };
                let (_, client) = q.pop_front().expect("the head was just seen");
                self.state
                    .insert(client.clone(), State::Picked { woken: false });
                return Some((plan, client));
            }
        }
        None
    }

    /// A run was taken from `client`. With `more` runs queued behind it, the
    /// client goes to the back of the busy list. Without, it is forgotten
    /// (as after [`Fair::empty`]): its next submission makes it new, so a
    /// client that keeps no backlog is never filed among the busy ones.
    pub fn served(&mut self, plan: Plan, client: K, more: bool) {
        if !more {
            self.empty(plan, client);
            return;
        }
        self.state.insert(client.clone(), State::Waiting);
        let stamp = self.next_stamp();
        self.lists(plan).old.push_back((stamp, client));
    }

    /// `client` has runs queued but is at its concurrency cap: it leaves the
    /// lists until the next wake, which returns it among the busy clients.
    pub fn park(&mut self, client: K) {
        self.state.insert(client, State::Parked);
    }

    /// `client` had nothing to take: forget it until the next wake (which
    /// makes it new again), unless one came while it was picked.
    pub fn empty(&mut self, plan: Plan, client: K) {
        if let Some(State::Picked { woken: true }) = self.state.get(&client) {
            self.state.insert(client.clone(), State::Waiting);
            let stamp = self.next_stamp();
            self.lists(plan).new.push_back((stamp, client));
        } else {
            self.state.remove(&client);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Plan = Plan::Tenant;
    const A: Plan = Plan::Anonymous;

    /// Serves `slots` runs from a world where each client has `work[c]` runs.
    fn serve(
        fair: &mut Fair<&'static str>,
        work: &mut HashMap<&'static str, u32>,
        n: usize,
    ) -> Vec<&'static str> {
        let mut order = Vec::new();
        while order.len() < n {
            let Some((plan, c)) = fair.pick(|_| true) else {
                break;
            };
            match work.get_mut(c) {
                Some(left) if *left > 0 => {
                    *left -= 1;
                    order.push(c);
                    fair.served(plan, c, *left > 0);
                }
                _ => fair.empty(plan, c),
            }
        }
        order
    }

    #[test]
    fn a_backlog_delays_a_newcomer_by_at_most_one_run() {
        let mut fair = Fair::new();
        let mut work = HashMap::from([("flood", 100), ("polite", 1)]);
        fair.wake(T, "flood");
        assert_eq!(serve(&mut fair, &mut work, 3), ["flood"; 3]);
        // The polite client's run arrives behind 97 queued runs: it is next.
        fair.wake(T, "polite");
        assert_eq!(serve(&mut fair, &mut work, 2), ["polite", "flood"]);
    }

    #[test]
    fn busy_clients_take_turns() {
        let mut fair = Fair::new();
        let mut work = HashMap::from([("a", 3), ("b", 3), ("c", 1)]);
        for c in ["a", "b", "c"] {
            fair.wake(T, c);
        }
        assert_eq!(
            serve(&mut fair, &mut work, 10),
            ["a", "b", "c", "a", "b", "a", "b"]
        );
        // Everyone is drained and forgotten.
        assert!(fair.pick(|_| true).is_none() || fair.is_empty());
    }

    #[test]
    fn the_plan_filter_skips_a_plan_without_losing_its_clients() {
        let mut fair = Fair::new();
        fair.wake(A, "anon1");
        fair.wake(T, "acme");
        // Anonymous work at its share: only tenants are eligible.
        assert_eq!(fair.pick(|p| p == T), Some((T, "acme")));
        fair.served(T, "acme", true);
        assert_eq!(fair.pick(|p| p == T), Some((T, "acme")));
        fair.served(T, "acme", true);
        assert!(fair.has_waiting(A));
        // Once anonymous work may run again, the waiting anonymous client is
        // new, so it goes before the busy tenant.
        assert_eq!(fair.pick(|_| true), Some((A, "anon1")));
    }

    #[test]
    fn a_wake_during_a_fetch_is_not_lost() {
        let mut fair = Fair::new();
        fair.wake(T, "a");
        let (plan, c) = fair.pick(|_| true).unwrap();
        fair.wake(T, "a");
        fair.empty(plan, c);
        assert_eq!(fair.pick(|_| true), Some((T, "a")));
        fair.empty(T, "a");
        assert!(fair.is_empty());
        // A repeated wake of a waiting client does not queue it twice.
        fair.wake(T, "b");
        fair.wake(T, "b");
        assert_eq!(fair.pick(|_| true), Some((T, "b")));
        assert_eq!(fair.pick(|_| true), None);
    }

    #[test]
    fn a_flood_at_its_cap_comes_back_busy_not_new() {
        let mut fair = Fair::new();
        for c in ["f1", "f2", "f3"] {
            fair.wake(A, c);
        }
        // Each flooder is served once, then found at its cap and parked.
        for _ in 0..3 {
            let (plan, c) = fair.pick(|_| true).unwrap();
            fair.served(plan, c, true);
        }
        for _ in 0..3 {
            let (_, c) = fair.pick(|_| true).unwrap();
            fair.park(c);
        }
        assert_eq!(fair.pick(|_| true), None);
        // A newcomer arrives; then the flooders' runs end and wake them.
        fair.wake(A, "polite");
        for c in ["f1", "f2", "f3"] {
            fair.wake(A, c);
        }
        assert_eq!(fair.pick(|_| true), Some((A, "polite")));
        assert_eq!(fair.pick(|_| true), Some((A, "f1")));
    }

    #[test]
    fn many_flooders_cannot_hold_back_a_new_client() {
        let mut fair = Fair::new();
        let names: Vec<&'static str> = (0..30)
            .map(|i| &*Box::leak(format!("ip{i}").into_boxed_str()))
            .collect();
        let mut work: HashMap<&'static str, u32> = names.iter().map(|n| (*n, 3)).collect();
        for n in &names {
            fair.wake(A, *n);
        }
        let first = serve(&mut fair, &mut work, 30);
        assert_eq!(first.len(), 30);
        work.insert("fresh", 1);
        fair.wake(A, "fresh");
        assert_eq!(serve(&mut fair, &mut work, 1), ["fresh"]);
    }

    #[test]
    fn a_client_whose_queue_emptied_is_new_at_its_next_submission() {
        let mut fair = Fair::new();
        let mut work = HashMap::from([("f1", 50), ("f2", 50), ("polite", 1)]);
        for c in ["f1", "f2", "polite"] {
            fair.wake(A, c);
        }
        assert_eq!(serve(&mut fair, &mut work, 3), ["f1", "f2", "polite"]);
        // Its run ends (the launcher's wake finds nothing), then it submits
        // again: it goes before both flooders, whatever their backlog.
        fair.wake(A, "polite");
        let (plan, c) = fair.pick(|_| true).unwrap();
        assert_eq!(c, "polite");
        fair.empty(plan, c);
        assert_eq!(serve(&mut fair, &mut work, 1), ["f1"]);
        work.insert("polite", 1);
        fair.wake(A, "polite");
        assert_eq!(serve(&mut fair, &mut work, 2), ["polite", "f2"]);
    }

    #[test]
    fn a_wake_while_picked_keeps_a_drained_client_new() {
        let mut fair = Fair::new();
        fair.wake(T, "a");
        let (plan, c) = fair.pick(|_| true).unwrap();
        // A submission lands between the fetch and its answer.
        fair.wake(T, "a");
        fair.served(plan, c, false);
        assert_eq!(fair.pick(|_| true), Some((T, "a")));
    }
}
