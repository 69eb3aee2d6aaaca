//! Where `moat up` keeps everything and listens: the run directory (`.run/`
//! by default) and the paths under it (containerd's state, the SQLite
//! database, the files store, each launcher's I/O directory, the edge's
//! token secret, the NATS users' passwords), the scripts, binaries and
//! rootfs it uses, and its ports.
//! Resolving paths only: checking them is [`super::preflight`], using them
//! [`super::stages`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use moat_queue::Role;

use super::UpError;
use crate::cli::UpArgs;

/// Where everything lives and listens, resolved from the flags.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The run directory (absolute).
    pub dir: PathBuf,
    /// The repository's scripts.
    pub scripts: PathBuf,
    /// Where the service binaries are.
    pub bin_dir: PathBuf,
    /// The edge's public address.
    pub listen: SocketAddr,
    /// nats-server's port on 127.0.0.1 (a cluster's first node's).
    pub nats_port: u16,
    /// How many NATS servers (1, or a cluster of 3 or 5).
    pub nats_nodes: u16,
    /// The edge's metrics port; the recorder's is the next, the launchers' after.
    pub metrics_port: u16,
    /// How many launchers.
    pub launchers: u16,
    /// The sandbox rootfs.
    pub rootfs: PathBuf,
    /// The browser profile's rootfs.
    pub browser_rootfs: PathBuf,
    /// The web playground's bundle.
    pub web_dir: PathBuf,
}

impl Layout {
    /// Resolves the flags against the current directory and this program's.
    pub fn from_args(args: &UpArgs) -> Result<Self, UpError> {
        std::fs::create_dir_all(&args.dir).map_err(|source| UpError::Dir {
            path: args.dir.clone(),
            source,
        })?;
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let bin_dir = match &args.bin_dir {
            Some(d) => absolute(d),
            None => std::env::current_exe()
                .ok()
                .and_then(|e| e.parent().map(Path::to_path_buf))
                .unwrap_or_else(|| PathBuf::from(".")),
        };
        Ok(Self {
            dir: absolute(&args.dir),
            scripts: absolute(&args.scripts),
            bin_dir,
            listen: args.listen,
            nats_port: args.nats_port,
            nats_nodes: args.nats_nodes,
            metrics_port: args.metrics_port,
            launchers: args.launchers,
            rootfs: absolute(&args.rootfs),
            browser_rootfs: absolute(&args.browser_rootfs),
            web_dir: absolute(&args.web_dir),
        })
    }

    /// nats-server's URL: every node's, comma-separated, for a cluster.
    pub(super) fn nats_url(&self) -> String {
        (0..self.nats_nodes)
            .map(|i| format!("nats://127.0.0.1:{}", self.nats_port + i))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Node `i`'s route port, after every node's client port.
    pub(super) fn nats_cluster_port(&self, i: u16) -> u16 {
        self.nats_port + self.nats_nodes + i
    }

    /// NATS node `i`'s name and store directory: `nats` and `.run/nats` for
    /// one server, `nats-<i>` and `.run/nats-<i>` for a cluster's. The
    /// users' passwords are `.run/nats/users.env` either way.
    pub(super) fn nats_node(&self, i: u16) -> (String, PathBuf) {
        let name = match self.nats_nodes {
            1 => "nats".to_owned(),
            _ => format!("nats-{i}"),
        };
        let dir = self.dir.join(&name);
        (name, dir)
    }

    /// containerd's state, socket and runsc directories.
    pub(super) fn containerd_dir(&self) -> PathBuf {
        self.dir.join("containerd")
    }

    /// containerd's socket.
    pub(super) fn containerd_socket(&self) -> PathBuf {
        self.containerd_dir().join("containerd.sock")
    }

    /// The SQLite database every service shares.
    pub(super) fn database_url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.dir.join("moat.db").display())
    }

    /// The ports `moat up` will listen on, with what for.
    pub(super) fn ports(&self) -> Vec<(SocketAddr, String)> {
        let local = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        let mut ports = vec![(self.listen, "the edge".to_owned())];
        for i in 0..self.nats_nodes {
            let (name, _) = self.nats_node(i);
            let what = match self.nats_nodes {
                1 => "nats-server".to_owned(),
                _ => name.clone(),
            };
            ports.push((local(self.nats_port + i), what));
            if self.nats_nodes > 1 {
                ports.push((
                    local(self.nats_cluster_port(i)),
                    format!("{name}'s cluster port"),
                ));
            }
        }
        ports.push((local(self.metrics_port), "the edge's metrics".to_owned()));
        ports.push((
            local(self.metrics_port + 1),
            "the recorder's metrics".to_owned(),
        ));
        for i in 0..self.launchers {
            ports.push((
                local(self.metrics_port + 2 + i),
                format!("launcher-{i}'s metrics"),
            ));
        }
        ports.push((
            local(self.egress_metrics_port()),
            "the egress service's metrics".to_owned(),
        ));
        ports
    }

    /// The egress service's metrics port: after the launchers'.
    pub fn egress_metrics_port(&self) -> u16 {
        self.metrics_port + 2 + self.launchers
    }

    /// The edge's token secret, made once per run directory so that tokens
    /// outlive an edge restart.
    pub fn secret(&self) -> Result<String, UpError> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.dir.join("edge.secret");
        if let Ok(s) = std::fs::read_to_string(&path) {
            if s.trim().len() >= 32 {
                return Ok(s.trim().to_owned());
            }
        }
        let failed = |source| UpError::Dir {
            path: path.clone(),
            source,
        };
        let mut bytes = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
            .map_err(failed)?;
        let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        // Only root (who runs moat up) may read it.
        let _ = std::fs::remove_file(&path);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, secret.as_bytes()))
            .map_err(failed)?;
        Ok(secret)
    }
}

/// The passwords of moat's NATS users (`nats/users.conf`), by user name
/// (no `Debug`: nothing prints them).
#[derive(Clone, Default)]
pub struct NatsUsers(HashMap<String, String>);

impl NatsUsers {
    /// Reads `MOAT_NATS_PASSWORD_<USER>=...` lines.
    pub fn parse(text: &str) -> Self {
        Self(moat_queue::connection::parse_passwords(text))
    }

    /// `role`'s login as a service's environment.
    pub fn env(&self, role: Role) -> Vec<(String, String)> {
        vec![
            ("MOAT_NATS_USER".to_owned(), role.user().to_owned()),
            (
                "MOAT_NATS_PASSWORD".to_owned(),
                self.0.get(role.user()).cloned().unwrap_or_default(),
            ),
        ]
    }
}

impl Layout {
    /// Where the NATS users' passwords are kept (every node reads them).
    pub(super) fn nats_users_file(&self) -> PathBuf {
        self.dir.join("nats").join("users.env")
    }

    /// The NATS users' passwords, made once per run directory by
    /// `scripts/nats.sh users` (which nats-server's own start reads too).
    pub fn nats_users(&self) -> Result<NatsUsers, UpError> {
        let dir = self.dir.join("nats");
        let out = std::process::Command::new("bash")
            .arg(self.scripts.join("nats.sh"))
            .arg("users")
            .arg(&dir)
            .env("MOAT_NATS_USERS", self.nats_users_file())
            .output()
            .map_err(|source| UpError::Dir {
                path: dir.clone(),
                source,
            })?;
        let users = NatsUsers::parse(&String::from_utf8_lossy(&out.stdout));
        if !out.status.success() || Role::ALL.iter().any(|r| !users.0.contains_key(r.user())) {
            return Err(UpError::Missing(vec![format!(
                "scripts/nats.sh users {} made no NATS passwords: {}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )]));
        }
        Ok(users)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use clap::Parser;

    /// The layout `moat up --dir TMP FLAGS...` would use.
    pub(in crate::up) fn layout_with(flags: &[&str]) -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().unwrap();
        let mut argv = vec!["moat", "up", "--dir", dir.path().to_str().unwrap()];
        argv.extend_from_slice(flags);
        let crate::cli::Command::Up(args) = crate::cli::Cli::parse_from(argv).command else {
            panic!("parsed as up")
        };
        let layout = Layout::from_args(&args).unwrap();
        (dir, layout)
    }
}
