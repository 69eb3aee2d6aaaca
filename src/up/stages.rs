//! The stages `moat up` starts in order and stops in reverse:
//! infrastructure (nats-server, containerd), workers (the recorder, the
//! launchers), then the edge, so launchers drain their runs while NATS and
//! containerd are still there. Each stage's services and environment come
//! from the [`Layout`]; a stage is ready when its probes say so
//! ([`super::probes`]). Supervising one service (restarts, logs, stopping
//! with a grace) is [`crate::supervise`]'s.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use moat_queue::Role;

use super::layout::NatsUsers;
use super::probes::{http_ok, tcp_open, unix_open, wait_for};
use super::Layout;
use crate::supervise::{Log, Spec, Supervised};

impl Layout {
    /// The services, in start order by stage; `secret` is the edge's, and
    /// each service logs in to NATS as its own user of `users`.
    pub fn stages(&self, secret: &str, users: &NatsUsers) -> Vec<Vec<Spec>> {
        let bash = PathBuf::from("bash");
        let script = |name: &str| self.scripts.join(name).display().to_string();
        let local = |port: u16| format!("127.0.0.1:{port}");
        let common = vec![
            ("MOAT_NATS_URL".to_owned(), self.nats_url()),
            ("MOAT_DATABASE_URL".to_owned(), self.database_url()),
            ("MOAT_STORE".to_owned(), "local".to_owned()),
            (
                "MOAT_FILES_DIR".to_owned(),
                self.dir.join("files").display().to_string(),
            ),
        ];
        let with = |role: Role, extra: Vec<(&str, String)>| {
            let mut env = common.clone();
            env.extend(users.env(role));
            env.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
            env
        };
        // One nats-server, or a cluster's nodes, all with the same users.
        let routes: Vec<String> = (0..self.nats_nodes)
            .map(|i| self.nats_cluster_port(i).to_string())
            .collect();
        let mut infra: Vec<Spec> = (0..self.nats_nodes)
            .map(|i| {
                let (name, dir) = self.nats_node(i);
                let mut args = vec![
                    script("nats.sh"),
                    "run".into(),
                    dir.display().to_string(),
                    (self.nats_port + i).to_string(),
                ];
                if self.nats_nodes > 1 {
                    args.extend([
                        name.clone(),
                        self.nats_cluster_port(i).to_string(),
                        routes.join(","),
                    ]);
                }
                Spec {
                    name,
                    program: bash.clone(),
                    args,
                    env: vec![(
                        "MOAT_NATS_USERS".to_owned(),
                        self.nats_users_file().display().to_string(),
                    )],
                    grace: Duration::from_secs(10),
                    isolated: false,
                }
            })
            .collect();
        infra.extend([Spec {
            name: "containerd".into(),
            program: bash,
            args: vec![
                script("containerd.sh"),
                "run".into(),
                self.containerd_dir().display().to_string(),
            ],
            env: vec![],
            grace: Duration::from_secs(10),
            isolated: false,
        }]);
        let mut workers = vec![Spec {
            name: "recorder".into(),
            program: self.bin_dir.join("moat-recorder"),
            args: vec![],
            env: with(
                Role::Recorder,
                vec![("MOAT_METRICS_ADDR", local(self.metrics_port + 1))],
            ),
            grace: Duration::from_secs(10),
            isolated: false,
        }];
        let drain = std::env::var("MOAT_DRAIN_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis)
            .unwrap_or(Duration::from_secs(15));
        for i in 0..self.launchers {
            let name = format!("launcher-{i}");
            let ctr = self.containerd_dir();
            workers.push(Spec {
                program: self.bin_dir.join("moat-launcher"),
                args: vec![],
                env: with(
                    Role::Launcher,
                    vec![
                        ("MOAT_INSTANCE", name.clone()),
                        ("MOAT_STREAM_REPLICAS", self.nats_nodes.to_string()),
                        ("MOAT_METRICS_ADDR", local(self.metrics_port + 2 + i)),
                        (
                            "MOAT_CONTAINERD_SOCKET",
                            self.containerd_socket().display().to_string(),
                        ),
                        (
                            "MOAT_RUNTIME_BINARY",
                            ctr.join("runsc-moat").display().to_string(),
                        ),
                        ("MOAT_RUNTIME_ROOT", ctr.join("runsc").display().to_string()),
                        ("MOAT_ROOTFS", self.rootfs.display().to_string()),
                        (
                            "MOAT_BROWSER_ROOTFS",
                            self.browser_rootfs.display().to_string(),
                        ),
                        (
                            "MOAT_IO_DIR",
                            self.dir.join(&name).join("io").display().to_string(),
                        ),
                    ],
                ),
                // The launcher drains its runs first (MOAT_DRAIN_MS, passed
                // through from our environment; 15 s by default).
                grace: drain + Duration::from_secs(10),
                isolated: false,
                name,
            });
        }
        // The egress service holds no credentials: it gets NATS and its own
        // settings (MOAT_EGRESS_* from our environment), nothing else.
        workers.push(Spec {
            name: "egress".into(),
            program: self.bin_dir.join("moat-egress"),
            args: vec![],
            env: [
                ("MOAT_NATS_URL".to_owned(), self.nats_url()),
                (
                    "MOAT_METRICS_ADDR".to_owned(),
                    local(self.egress_metrics_port()),
                ),
            ]
            .into_iter()
            .chain(users.env(Role::Egress))
            .collect(),
            grace: Duration::from_secs(15),
            isolated: true,
        });
        let edge = vec![Spec {
            name: "edge".into(),
            program: self.bin_dir.join("moat-edge"),
            args: vec![],
            env: with(
                Role::Edge,
                vec![
                    ("MOAT_LISTEN", self.listen.to_string()),
                    ("MOAT_METRICS_ADDR", local(self.metrics_port)),
                    ("MOAT_WEB_DIR", self.web_dir.display().to_string()),
                    ("MOAT_EDGE_SECRET", secret.to_owned()),
                ],
            ),
            grace: Duration::from_secs(10),
            isolated: false,
        }];
        vec![infra, workers, edge]
    }
}

/// Starts every service of `stage`.
pub(super) fn start(stage: Vec<Spec>, log: &Log) -> Vec<Supervised> {
    stage
        .into_iter()
        .map(|s| Supervised::start(s, log.clone()))
        .collect()
}

/// Waits until stage `i` of [`Layout::stages`] is ready; false if stopped
/// first.
pub(super) async fn ready(
    layout: &Layout,
    i: usize,
    log: &Log,
    shutdown: &CancellationToken,
) -> bool {
    match i {
        0 => {
            for i in 0..layout.nats_nodes {
                let nats = SocketAddr::from(([127, 0, 0, 1], layout.nats_port + i));
                let (name, _) = layout.nats_node(i);
                if !wait_for(&name, log, shutdown, || tcp_open(nats)).await {
                    return false;
                }
            }
            let sock = layout.containerd_socket();
            wait_for("containerd", log, shutdown, || unix_open(&sock)).await
        }
        // The recorder migrates the database before it is healthy;
        // the edge, started after, then finds it ready.
        1 => {
            let recorder = SocketAddr::from(([127, 0, 0, 1], layout.metrics_port + 1));
            wait_for("the recorder", log, shutdown, || {
                http_ok(recorder, "/healthz")
            })
            .await
        }
        _ => {
            let edge = layout.listen;
            wait_for("the edge", log, shutdown, || http_ok(edge, "/readyz")).await
        }
    }
}

/// Stops the started stages, the last one first, then the sandboxes and
/// shims of this run directory.
pub(super) async fn stop(layout: &Layout, mut running: Vec<Vec<Supervised>>, log: &Log) {
    while let Some(stage) = running.pop() {
        let names: Vec<String> = stage.iter().map(|s| s.name().to_owned()).collect();
        futures::future::join_all(stage.into_iter().map(Supervised::stop)).await;
        log.say(&format!("{} stopped", names.join(", ")));
    }
    // Sandboxes and shims outlive containerd: end this directory's.
    let _ = tokio::process::Command::new("bash")
        .arg(layout.scripts.join("containerd.sh"))
        .arg("stop")
        .arg(layout.containerd_dir())
        .status()
        .await;
}

#[cfg(test)]
mod tests {
    use crate::up::layout::tests::layout_with;

    #[test]
    fn every_service_gets_its_own_ports_and_directories() {
        let (dir, layout) = layout_with(&["--launchers", "2", "--metrics-port", "19100"]);
        let stages = layout.stages(&layout.secret().unwrap(), &layout.nats_users().unwrap());
        let names: Vec<Vec<&str>> = stages
            .iter()
            .map(|s| s.iter().map(|s| s.name.as_str()).collect())
            .collect();
        assert_eq!(
            names,
            vec![
                vec!["nats", "containerd"],
                vec!["recorder", "launcher-0", "launcher-1", "egress"],
                vec!["edge"]
            ]
        );
        let env = |name: &str, key: &str| {
            stages
                .iter()
                .flatten()
                .find(|s| s.name == name)
                .and_then(|s| s.env.iter().find(|(k, _)| k == key))
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let metrics: Vec<String> = ["edge", "recorder", "launcher-0", "launcher-1", "egress"]
            .iter()
            .map(|n| env(n, "MOAT_METRICS_ADDR"))
            .collect();
        assert_eq!(
            metrics,
            [
                "127.0.0.1:19100",
                "127.0.0.1:19101",
                "127.0.0.1:19102",
                "127.0.0.1:19103",
                "127.0.0.1:19104"
            ]
        );
        // No credentials reach the egress service.
        assert_eq!(env("egress", "MOAT_DATABASE_URL"), "");
        assert!(stages
            .iter()
            .flatten()
            .any(|s| s.name == "egress" && s.isolated));
        assert_ne!(
            env("launcher-0", "MOAT_IO_DIR"),
            env("launcher-1", "MOAT_IO_DIR")
        );
        assert_eq!(
            env("edge", "MOAT_DATABASE_URL"),
            env("recorder", "MOAT_DATABASE_URL")
        );
        // The token secret is made once and kept.
        let secret = env("edge", "MOAT_EDGE_SECRET");
        assert_eq!(secret.len(), 64);
        assert_eq!(layout.secret().unwrap(), secret);
        let mode = std::fs::metadata(dir.path().join("edge.secret")).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o600
        );
    }

    #[test]
    fn each_service_logs_in_as_its_own_nats_user() {
        let (_dir, layout) = layout_with(&["--metrics-port", "19200"]);
        let stages = layout.stages(&layout.secret().unwrap(), &layout.nats_users().unwrap());
        let env = |name: &str, key: &str| {
            stages
                .iter()
                .flatten()
                .find(|s| s.name == name)
                .and_then(|s| s.env.iter().find(|(k, _)| k == key))
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let mut passwords = std::collections::HashSet::new();
        for (service, user) in [
            ("edge", "edge"),
            ("recorder", "recorder"),
            ("launcher-0", "launcher"),
            ("egress", "egress"),
        ] {
            assert_eq!(env(service, "MOAT_NATS_USER"), user);
            let password = env(service, "MOAT_NATS_PASSWORD");
            assert_eq!(password.len(), 33, "{service}");
            passwords.insert(password);
        }
        assert_eq!(passwords.len(), 4, "every user has its own password");
        // Made once: a second look finds the same.
        let again = layout.nats_users().unwrap();
        assert_eq!(
            again.env(moat_queue::Role::Edge)[1].1,
            env("edge", "MOAT_NATS_PASSWORD")
        );
    }

    #[test]
    fn a_nats_cluster_gets_its_nodes_routes_and_replicas() {
        let (_dir, layout) = layout_with(&["--nats-nodes", "3", "--nats-port", "19400"]);
        let stages = layout.stages(&layout.secret().unwrap(), &layout.nats_users().unwrap());
        let names: Vec<&str> = stages[0].iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["nats-0", "nats-1", "nats-2", "containerd"]);
        let node = &stages[0][1];
        let want: Vec<String> = vec![
            layout.dir.join("nats-1").display().to_string(),
            "19401".into(),
            "nats-1".into(),
            "19404".into(),
            "19403,19404,19405".into(),
        ];
        assert_eq!(node.args[2..], want[..]);
        let launcher = stages[1].iter().find(|s| s.name == "launcher-0").unwrap();
        let get = |k: &str| {
            launcher
                .env
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("MOAT_STREAM_REPLICAS"), Some("3"));
        assert_eq!(
            get("MOAT_NATS_URL"),
            Some("nats://127.0.0.1:19400,nats://127.0.0.1:19401,nats://127.0.0.1:19402")
        );
        assert!(layout.missing().iter().all(|m| !m.contains("port")));
    }
}
