//! The launchers' side of fair dispatch: each launcher keeps its own
//! round-robin ([`crate::fair`]) over the clients with work and, when it has
//! a free slot, pulls one run from the next client's own consumer
//! ([`crate::consumers`]). There is no leader: launchers learn of work from
//! wakes (`runs.wake.*`, published after every submit and every finished
//! run) and from a periodic listing of the streams' subjects, which repairs
//! any wake that was lost. Two launchers may pick the same client at once;
//! JetStream hands each message to one of them, and the other finds nothing.
//!
//! Caps: the plan's concurrency per client is the consumer's
//! `max_ack_pending`, counted by the server for the whole fleet. Anonymous
//! work may hold at most `anon_slots` of this launcher's slots, so tenants
//! always find capacity.
//!
//! Cost per run: one pull request (answered at once: a message, or 404 when
//! the client has none), one wake publish (core NATS, not stored), and, once
//! per client per launcher, a consumer create-or-update.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, consumer::PullConsumer, stream::Stream};
use futures::{FutureExt, StreamExt};
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::Plan;
use crate::consumers::{client_consumer, ConsumerSettings};
use crate::fair::Fair;
use crate::subjects;

/// A client as the dispatcher knows it: its plan and subject token.
pub type Client = (Plan, String);

/// How long a pull request may go unanswered. The server answers at once
/// (even on a machine whose cores the sandboxes saturate, well inside this)
/// unless the client is at its concurrency cap with runs still queued; then
/// the request waits on the server for a slot, so the dispatcher moves on and
/// leaves the client alone until a wake says one of its runs ended. The
/// abandoned request is still watched: a run the
/// server hands to it later is taken, never stranded.
const FETCH_WAIT: Duration = Duration::from_secs(1);
/// Consumer handles kept; past it the cache starts again (they are remade on use).
const MAX_CONSUMER_HANDLES: usize = 4096;
/// How often the set of capped clients is forgotten, in case the wake that
/// should have freed one was lost.
const CAPPED_RESET: Duration = Duration::from_secs(30);

/// How a launcher dispatches.
#[derive(Debug, Clone, Copy)]
pub struct DispatchSettings {
    /// The per-client consumers' settings.
    pub consumers: ConsumerSettings,
    /// Of this launcher's slots, how many anonymous runs may hold at once.
    pub anon_slots: usize,
    /// How often the streams are listed for clients with work.
    pub resync: Duration,
}

/// Runs this launcher holds, by client and for anonymous work as a whole.
#[derive(Debug, Default)]
struct Running {
    anon: usize,
    per_client: HashMap<Client, Held>,
}

/// One client's runs on this launcher.
#[derive(Debug, Default, Clone, Copy)]
struct Held {
    runs: usize,
    /// The latest of them emptied the client's queue: at its cap here, the
    /// client has nothing waiting that this launcher knows of, so it need
    /// not be parked among the busy; the wake at that run's end brings it
    /// back as new.
    drained: bool,
}

/// One run taken from the queue, with its client and its hold on a slot
/// (released when this is dropped).
pub struct Delivery {
    /// The JetStream message (ack it, or nak it back).
    pub message: jetstream::Message,
    /// Whose run it is.
    pub client: Client,
    _slot: Slot,
}

impl Delivery {
    /// Gives the slot back, then tells every launcher that this run's client
    /// may have more work (and a free place under its cap); call once the
    /// run is acknowledged or handed back. In that order: a wake that came
    /// before the slot was free would find the client still at its cap and
    /// park it with no wake left to come.
    pub async fn finish(self, nats: &async_nats::Client) {
        let Delivery { client, _slot, .. } = self;
        drop(_slot);
        let (plan, token) = &client;
        let _ = nats
            .publish(subjects::wake(*plan, token), bytes::Bytes::new())
            .await;
    }
}

/// Releases the run's place in [`Running`] when dropped, whatever happened to it.
struct Slot {
    running: Arc<Mutex<Running>>,
    client: Client,
    freed: Arc<Notify>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut r = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if self.client.0 == Plan::Anonymous {
            r.anon = r.anon.saturating_sub(1);
        }
        if let Some(held) = r.per_client.get_mut(&self.client) {
            held.runs -= 1;
            if held.runs == 0 {
                r.per_client.remove(&self.client);
            }
        }
        drop(r);
        self.freed.notify_one();
    }
}

/// Why the dispatcher could not start.
#[derive(Debug, thiserror::Error)]
#[error("dispatcher: {0}")]
pub struct DispatchError(String);

/// One launcher's dispatcher.
pub struct Dispatcher {
    settings: DispatchSettings,
    fair: Fair<Client>,
    consumers: HashMap<Client, PullConsumer>,
    streams: HashMap<Plan, Stream>,
    wakes: Option<async_nats::Subscriber>,
    running: Arc<Mutex<Running>>,
    freed: Arc<Notify>,
    capped: HashSet<Client>,
    next_resync: Instant,
    next_capped_reset: Instant,
    /// Runs delivered to a pull request after the dispatcher stopped waiting
    /// for it, sent here by the task that kept watching it.
    late_tx: mpsc::UnboundedSender<(Client, jetstream::Message)>,
    late: mpsc::UnboundedReceiver<(Client, jetstream::Message)>,
    /// Late runs received while waiting, taken before the channel's next.
    arrived: std::collections::VecDeque<(Client, jetstream::Message)>,
}

impl Dispatcher {
    /// Subscribes to wakes and takes a first look at what is queued.
    pub async fn start(
        js: jetstream::Context,
        settings: DispatchSettings,
    ) -> Result<Self, DispatchError> {
        let wakes = js
            .client()
            .subscribe(subjects::WAKE_ALL)
            .await
            .map_err(|e| DispatchError(format!("subscribing to wakes: {e}")))?;
        let mut streams = HashMap::new();
        for plan in Plan::ALL {
            let stream = js
                .get_stream(plan.stream())
                .await
                .map_err(|e| DispatchError(format!("stream {}: {e}", plan.stream())))?;
            streams.insert(plan, stream);
        }
        let now = Instant::now();
        let (late_tx, late) = mpsc::unbounded_channel();
        let mut dispatcher = Self {
            settings,
            fair: Fair::new(),
            consumers: HashMap::new(),
            streams,
            wakes: Some(wakes),
            running: Arc::default(),
            freed: Arc::new(Notify::new()),
            capped: HashSet::new(),
            next_resync: now,
            next_capped_reset: now + CAPPED_RESET,
            late_tx,
            late,
            arrived: std::collections::VecDeque::new(),
        };
        dispatcher.resync().await;
        Ok(dispatcher)
    }

    /// Waits for the next run, taken fairly; the caller holds a free slot.
    /// `None` once `shutdown` is cancelled.
    pub async fn next(&mut self, shutdown: &CancellationToken) -> Option<Delivery> {
        loop {
            if shutdown.is_cancelled() {
                return None;
            }
            self.take_wakes();
            let now = Instant::now();
            if now >= self.next_capped_reset {
                self.capped.clear();
                self.next_capped_reset = now + CAPPED_RESET;
            }
            if now >= self.next_resync {
                self.resync().await;
            }
            let anon_ok = self.lock().anon < self.settings.anon_slots;
            if let Some(delivery) = self.take_late(anon_ok).await {
                return Some(delivery);
            }
            let Some(client) = self
                .fair
                .pick(|p| p == Plan::Tenant || anon_ok)
                .map(|(_, c)| c)
            else {
                self.wait(shutdown).await;
                continue;
            };
            let plan = client.0;
            // At its cap on this launcher alone: no need to ask the server.
            let cap = self.settings.consumers.concurrency(plan).max(1) as usize;
            let held = self.held(&client);
            if held.runs >= cap {
                if held.drained {
                    self.fair.empty(plan, client);
                } else {
                    self.fair.park(client);
                }
                continue;
            }
            match self.fetch(&client).await {
                Fetched::Run(message) => {
                    self.fair
                        .served(plan, client.clone(), more_queued(&message));
                    return Some(self.deliver(*message, client));
                }
                Fetched::Nothing => self.fair.empty(plan, client),
                Fetched::Capped => {
                    self.capped.insert(client.clone());
                    self.fair.park(client);
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Running> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn held(&self, client: &Client) -> Held {
        self.lock()
            .per_client
            .get(client)
            .copied()
            .unwrap_or_default()
    }

    fn deliver(&self, message: jetstream::Message, client: Client) -> Delivery {
        let drained = !more_queued(&message);
        let mut r = self.lock();
        if client.0 == Plan::Anonymous {
            r.anon += 1;
        }
        let held = r.per_client.entry(client.clone()).or_default();
        held.runs += 1;
        held.drained = drained;
        drop(r);
        Delivery {
            message,
            client: client.clone(),
            _slot: Slot {
                running: self.running.clone(),
                client,
                freed: self.freed.clone(),
            },
        }
    }

    /// Sleeps until something could have changed: a wake, a freed slot, a
    /// run reaching an abandoned pull request, or the next resync.
    async fn wait(&mut self, shutdown: &CancellationToken) {
        let resync = tokio::time::sleep_until(self.next_resync);
        let freed = self.freed.clone();
        let wake = async {
            match self.wakes.as_mut() {
                Some(w) => w.next().await,
                None => std::future::pending().await,
            }
        };
        let mut arrived = None;
        let woke = tokio::select! {
            () = shutdown.cancelled() => None,
            () = resync => None,
            () = freed.notified() => None,
            late = self.late.recv() => {
                arrived = late;
                None
            }
            w = wake => Some(w),
        };
        self.arrived.extend(arrived);
        match woke {
            Some(Some(m)) => self.on_wake(&m.subject),
            // The client is gone: resyncs alone find work from now on.
            Some(None) => self.wakes = None,
            None => {}
        }
    }

    /// A run that reached an abandoned pull request: delivered now if this
    /// slot may take it, else handed straight back to the queue (and its
    /// client woken) rather than left to wait out its ack wait.
    async fn take_late(&mut self, anon_ok: bool) -> Option<Delivery> {
        while let Some((client, message)) = self
            .arrived
            .pop_front()
            .or_else(|| self.late.try_recv().ok())
        {
            let cap = self.settings.consumers.concurrency(client.0).max(1) as usize;
            let room = self.held(&client).runs < cap;
            if room && (client.0 == Plan::Tenant || anon_ok) {
                return Some(self.deliver(message, client));
            }
            let _ = message.ack_with(jetstream::AckKind::Nak(None)).await;
            self.fair.wake(client.0, client);
        }
        None
    }

    /// Takes every wake already received, without waiting.
    fn take_wakes(&mut self) {
        let mut subjects = Vec::new();
        if let Some(w) = self.wakes.as_mut() {
            while let Some(Some(m)) = w.next().now_or_never() {
                subjects.push(m.subject);
            }
        }
        for s in subjects {
            self.on_wake(&s);
        }
    }

    fn on_wake(&mut self, subject: &str) {
        if let Some((plan, token)) = subjects::client_of(subject) {
            let client = (plan, token.to_owned());
            // A wake is news (a submit, or a run ending): a capped client may
            // have room again.
            self.capped.remove(&client);
            self.fair.wake(plan, client);
        }
    }

    /// Lists the clients that have runs in the streams and wakes them.
    async fn resync(&mut self) {
        self.next_resync = Instant::now() + self.settings.resync;
        for plan in Plan::ALL {
            let Some(stream) = self.streams.get(&plan) else {
                continue;
            };
            let mut listing = match stream.info_with_subjects(subjects::submit_all(plan)).await {
                Ok(listing) => listing,
                Err(e) => {
                    tracing::warn!(stream = plan.stream(), error = %e, "listing queued clients");
                    continue;
                }
            };
            while let Some(Ok((subject, count))) = listing.next().await {
                let Some((p, token)) = subjects::client_of(&subject) else {
                    continue;
                };
                let client = (p, token.to_owned());
                if count > 0 && !self.capped.contains(&client) {
                    self.fair.wake(p, client);
                }
            }
        }
    }

    /// One pull request to the client's consumer (made on first use).
    async fn fetch(&mut self, client: &Client) -> Fetched {
        for attempt in 0..2 {
            let consumer = match self.consumer(client).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(client = %client.1, error = %e, "making a client's consumer");
                    return Fetched::Nothing;
                }
            };
            let batch = consumer.fetch().max_messages(1).messages().await;
            let result = match batch {
                Ok(mut batch) => match tokio::time::timeout(FETCH_WAIT, batch.next()).await {
                    Err(_) => {
                        // Keep watching the request for as long as a run
                        // handed to it could wait for its ack.
                        let late = self.late_tx.clone();
                        let client = client.clone();
                        let watch = self.settings.consumers.ack_wait;
                        tokio::spawn(async move {
                            if let Ok(Some(Ok(message))) =
                                tokio::time::timeout(watch, batch.next()).await
                            {
                                if let Err(back) = late.send((client, message)) {
                                    let (_, message) = back.0;
                                    let _ = message.ack_with(jetstream::AckKind::Nak(None)).await;
                                }
                            }
                        });
                        return Fetched::Capped;
                    }
                    Ok(None) => return Fetched::Nothing,
                    Ok(Some(Ok(message))) => return Fetched::Run(Box::new(message)),
                    Ok(Some(Err(e))) => e.to_string(),
                },
                Err(e) => e.to_string(),
            };
            // The consumer may have been removed for inactivity: make it again once.
            self.consumers.remove(client);
            if attempt == 1 {
                tracing::warn!(client = %client.1, error = %result, "fetching a run");
            }
        }
        Fetched::Nothing
    }

    async fn consumer(&mut self, client: &Client) -> Result<PullConsumer, String> {
        if let Some(c) = self.consumers.get(client) {
            return Ok(c.clone());
        }
        let (plan, token) = client;
        let stream = self
            .streams
            .get(plan)
            .ok_or_else(|| format!("no stream for {}", plan.token()))?;
        let consumer = stream
            .create_consumer(client_consumer(*plan, token, &self.settings.consumers))
            .await
            .map_err(|e| e.to_string())?;
        if self.consumers.len() >= MAX_CONSUMER_HANDLES {
            self.consumers.clear();
        }
        self.consumers.insert(client.clone(), consumer.clone());
        Ok(consumer)
    }
}

/// Whether the client has runs queued behind `message` (the server's count
/// at delivery; when it cannot be read, assume so, which only costs a turn).
fn more_queued(message: &jetstream::Message) -> bool {
    message.info().map(|i| i.pending > 0).unwrap_or(true)
}

/// What one pull request brought.
enum Fetched {
    /// A run.
    Run(Box<jetstream::Message>),
    /// The client has nothing to take.
    Nothing,
    /// The client has runs queued but is at its concurrency cap fleet-wide.
    Capped,
}
