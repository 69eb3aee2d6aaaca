//! `moat exec`'s answer to the runner's host calls: the same session the
//! launcher uses (`moat_egress::session`: budget, turns, replies), with the
//! requests made here, in process, under the same policy settings
//! (`MOAT_EGRESS_*`), so a script that works locally works on the service.
//! Each finished request is shown on stderr, as a `net` event would be.

use std::os::fd::OwnedFd;
use std::process::ChildStdin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moat_egress::config::FetchArgs;
use moat_egress::fetch::Fetcher;
use moat_egress::session::{relay, Budget, CallEvent, LocalEgress, NetDone, RunIdentity};
use tokio::sync::mpsc;

use crate::render::{self, Style};

/// What a local run may do through the network: a tenant's default budget.
const BUDGET: Budget = Budget {
    requests: 500,
    bytes: 64 * 1024 * 1024,
    concurrency: 6,
    request_timeout: Duration::from_secs(30),
};

/// The host side of one local run; calls go in with [`ExecHost::call`].
pub struct ExecHost {
    calls: Option<mpsc::UnboundedSender<CallEvent>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ExecHost {
    /// Starts answering calls on the runner's `stdin` (the job already
    /// written) until [`ExecHost::finish`] or the run's `deadline`.
    pub fn start(
        stdin: ChildStdin,
        settings: &FetchArgs,
        deadline: Instant,
        show: bool,
    ) -> Result<Self, String> {
        let config = settings.fetcher().map_err(|e| e.to_string())?;
        let fetcher = Arc::new(Fetcher::new(config).map_err(|e| e.to_string())?);
        // A local run is a tenant's: the tenant plan's rules apply.
        let plans = Arc::new(settings.plan_policies().map_err(|e| e.to_string())?);
        let (calls, rx) = mpsc::unbounded_channel();
        let fd = OwnedFd::from(stdin);
        let thread = std::thread::Builder::new()
            .name("exec-host".into())
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async move {
                    let Ok(stdin) = tokio::net::unix::pipe::Sender::from_owned_fd(fd) else {
                        return;
                    };
                    let (net, mut done) = mpsc::unbounded_channel::<NetDone>();
                    let printer = tokio::spawn(async move {
                        let style =
                            Style::detect(std::io::IsTerminal::is_terminal(&std::io::stderr()));
                        while let Some(d) = done.recv().await {
                            if show {
                                eprintln!(
                                    "{}",
                                    render::net_line(
                                        &d.method,
                                        &d.url,
                                        d.status,
                                        d.error
                                            .as_ref()
                                            .map(|e| (e.code.as_str(), e.message.as_str())),
                                        d.bytes,
                                        d.ms,
                                        style
                                    )
                                );
                            }
                        }
                    });
                    let who = RunIdentity {
                        run: "local".into(),
                        tenant: "local".into(),
                        plan: moat_wire::egress::EgressPlan::Tenant,
                        rules: None,
                    };
                    let egress = Arc::new(LocalEgress::new(fetcher, plans));
                    if let Err(v) = relay(stdin, rx, egress, who, BUDGET, deadline, net).await {
                        eprintln!("moat exec: the runner broke the call protocol: {v}");
                    }
                    let _ = printer.await;
                });
            })
            .map_err(|e| e.to_string())?;
        Ok(Self {
            calls: Some(calls),
            thread: Some(thread),
        })
    }

    /// Hands a call (or a cancel) from the runner's output to the session.
    pub fn call(&self, event: CallEvent) {
        if let Some(calls) = &self.calls {
            let _ = calls.send(event);
        }
    }

    /// The runner's output has ended: stop answering and wait for the
    /// session to finish.
    pub fn finish(mut self) {
        self.calls = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
