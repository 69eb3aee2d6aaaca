//! How many WebSocket sessions each client holds open. Each one costs an
//! ordered consumer on NATS and a task here for as long as its run lasts,
//! so a client gets a few at once (enough for a page and a terminal), and
//! the table cannot grow past the clients that hold sessions right now.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::auth::Caller;

/// Open sessions per client, with a cap.
#[derive(Debug)]
pub struct SessionLimits {
    max_per_client: usize,
    open: Mutex<HashMap<Caller, usize>>,
}

impl SessionLimits {
    /// At most `max_per_client` sessions per client at once.
    pub fn new(max_per_client: usize) -> Arc<Self> {
        Arc::new(Self {
            max_per_client,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A session for `caller`, or `None` if it holds its share already.
    pub fn open(self: &Arc<Self>, caller: &Caller) -> Option<SessionGuard> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(caller.clone()).or_insert(0);
        if *count >= self.max_per_client {
            return None;
        }
        *count += 1;
        Some(SessionGuard {
            limits: self.clone(),
            caller: caller.clone(),
        })
    }

    /// Sessions `caller` holds now.
    pub fn held(&self, caller: &Caller) -> usize {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(caller).copied().unwrap_or(0)
    }
}

/// One open session; dropping it gives the slot back.
#[derive(Debug)]
pub struct SessionGuard {
    limits: Arc<SessionLimits>,
    caller: Caller,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.caller) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.caller);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_gets_its_share_back_when_sessions_end() {
        let limits = SessionLimits::new(2);
        let a = Caller::Anonymous([192, 0, 2, 1].into());
        let b = Caller::Tenant("acme".into());
        let first = limits.open(&a).unwrap();
        let _second = limits.open(&a).unwrap();
        assert!(limits.open(&a).is_none());
        // Another client is not affected.
        let _other = limits.open(&b).unwrap();
        drop(first);
        assert_eq!(limits.held(&a), 1);
        assert!(limits.open(&a).is_some());
        drop(_other);
        assert_eq!(limits.held(&b), 0);
        assert!(limits.open.lock().unwrap().get(&b).is_none());
    }
}
