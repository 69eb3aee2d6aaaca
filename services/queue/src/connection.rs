//! How every service connects to NATS: as its own user, with the
//! credentials and TLS settings of its config, and with a private inbox
//! prefix. `nats/users.conf` grants each user only its own subjects; the
//! [`Role`] here names the user and the inbox that file grants.

use std::path::PathBuf;
use std::time::Duration;

use async_nats::{ConnectOptions, Event};

/// A service's identity on NATS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The HTTP edge: submits runs, reads their events.
    Edge,
    /// A launcher: dispatches and runs, publishes events and results.
    Launcher,
    /// The recorder: reads events and results into the database.
    Recorder,
    /// The egress service: answers launchers' fetches.
    Egress,
}

impl Role {
    /// Every service's role.
    pub const ALL: [Role; 4] = [Role::Edge, Role::Launcher, Role::Recorder, Role::Egress];

    /// Its NATS user name (the default when the config names none).
    pub fn user(self) -> &'static str {
        match self {
            Role::Edge => "edge",
            Role::Launcher => "launcher",
            Role::Recorder => "recorder",
            Role::Egress => "egress",
        }
    }

    /// Where its replies arrive (JetStream API answers, egress answers,
    /// upload parts). Each user may subscribe only under its own prefix: a
    /// shared `_INBOX.>` would let one service read another's replies.
    pub fn inbox_prefix(self) -> String {
        format!("_INBOX_{}", self.user())
    }
}

/// NATS credentials and TLS, shared by every service's config
/// (`#[command(flatten)]`).
#[derive(Clone, Default, PartialEq, Eq, clap::Args)]
pub struct NatsAuth {
    /// NATS user name; the service's own (edge, launcher, recorder, egress) when a password is given without one.
    #[arg(long = "nats-user", env = "MOAT_NATS_USER")]
    pub user: Option<String>,
    /// NATS password (prefer --nats-password-file).
    #[arg(
        long = "nats-password",
        env = "MOAT_NATS_PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<String>,
    /// A file holding the NATS password (a mounted secret).
    #[arg(long = "nats-password-file", env = "MOAT_NATS_PASSWORD_FILE")]
    pub password_file: Option<PathBuf>,
    /// A NATS credentials file (user JWT and nkey seed), instead of a password.
    #[arg(long = "nats-creds", env = "MOAT_NATS_CREDS")]
    pub creds: Option<PathBuf>,
    /// A file holding an nkey seed, instead of a password.
    #[arg(long = "nats-nkey", env = "MOAT_NATS_NKEY")]
    pub nkey: Option<PathBuf>,
    /// CA certificates (PEM) to verify the NATS server with; implies TLS.
    #[arg(long = "nats-tls-ca", env = "MOAT_NATS_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for servers that verify clients.
    #[arg(long = "nats-tls-cert", env = "MOAT_NATS_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The client certificate's key (PEM).
    #[arg(long = "nats-tls-key", env = "MOAT_NATS_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Refuse to talk to NATS without TLS.
    #[arg(long = "nats-tls-required", env = "MOAT_NATS_TLS_REQUIRED")]
    pub tls_required: bool,
}

/// Everything but the password, so a logged config leaks no secret.
impl std::fmt::Debug for NatsAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsAuth")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("password_file", &self.password_file)
            .field("creds", &self.creds)
            .field("nkey", &self.nkey)
            .field("tls_ca", &self.tls_ca)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("tls_required", &self.tls_required)
            .finish()
    }
}

impl NatsAuth {
    /// User-and-password credentials (tests, `moat up`).
    pub fn password(user: &str, password: &str) -> Self {
        Self {
            user: Some(user.to_owned()),
            password: Some(password.to_owned()),
            ..Self::default()
        }
    }

    /// Checks that at most one way of authenticating is given and that a
    /// client certificate comes with its key.
    pub fn validate(&self) -> Result<(), String> {
        let ways = [
            self.password.is_some(),
            self.password_file.is_some(),
            self.creds.is_some(),
            self.nkey.is_some(),
        ];
        if ways.iter().filter(|w| **w).count() > 1 {
            return Err(
                "give one of --nats-password, --nats-password-file, --nats-creds and --nats-nkey"
                    .into(),
            );
        }
        if self.user.is_some() && (self.creds.is_some() || self.nkey.is_some()) {
            return Err(
                "--nats-user goes with a password, not with --nats-creds or --nats-nkey".into(),
            );
        }
        if self.user.is_some() && self.password.is_none() && self.password_file.is_none() {
            return Err("--nats-user needs --nats-password or --nats-password-file".into());
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err("--nats-tls-cert and --nats-tls-key go together".into());
        }
        Ok(())
    }

    /// The connect options for `role` with these credentials.
    pub async fn options(&self, role: Role) -> Result<ConnectOptions, ConnectError> {
        self.validate().map_err(ConnectError::Config)?;
        let read = |path: &PathBuf| {
            std::fs::read_to_string(path)
                .map(|s| s.trim().to_owned())
                .map_err(|e| ConnectError::Config(format!("reading {}: {e}", path.display())))
        };
        let user = || self.user.clone().unwrap_or_else(|| role.user().to_owned());
        let mut options = if let Some(password) = &self.password {
            ConnectOptions::with_user_and_password(user(), password.clone())
        } else if let Some(path) = &self.password_file {
            ConnectOptions::with_user_and_password(user(), read(path)?)
        } else if let Some(path) = &self.creds {
            ConnectOptions::with_credentials_file(path.clone())
                .await
                .map_err(|e| ConnectError::Config(format!("reading {}: {e}", path.display())))?
        } else if let Some(path) = &self.nkey {
            ConnectOptions::with_nkey(read(path)?)
        } else {
            ConnectOptions::new()
        };
        if let Some(ca) = &self.tls_ca {
            options = options.add_root_certificates(ca.clone()).require_tls(true);
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        if self.tls_required {
            options = options.require_tls(true);
        }
        Ok(options
            .name(format!("moat-{}", role.user()))
            .custom_inbox_prefix(role.inbox_prefix())
            .connection_timeout(Duration::from_secs(5))
            .event_callback(move |event| async move { log_event(role, event) }))
    }
}

/// The passwords of a `users.env` file (`scripts/nats.sh` writes it:
/// `MOAT_NATS_PASSWORD_<USER>=...` lines), by lower-case user name.
pub fn parse_passwords(text: &str) -> std::collections::HashMap<String, String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("MOAT_NATS_PASSWORD_"))
        .filter_map(|rest| rest.split_once('='))
        .map(|(user, password)| (user.to_lowercase(), password.trim().to_owned()))
        .collect()
}

/// Why a service could not connect.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The credentials or TLS settings are unusable (give up: fix the config).
    #[error("{0}")]
    Config(String),
    /// The server refused or could not be reached.
    #[error("{0}")]
    Connect(#[from] async_nats::ConnectError),
}

/// Connects to `url` as `role`; `url` may list a cluster's servers,
/// comma-separated (the client moves to another when one is lost).
pub async fn connect(
    url: &str,
    auth: &NatsAuth,
    role: Role,
) -> Result<async_nats::Client, ConnectError> {
    let servers = servers(url)?;
    Ok(auth.options(role).await?.connect(servers).await?)
}

/// The servers of a URL list (`nats://a:4222,nats://b:4222`).
pub fn servers(url: &str) -> Result<Vec<async_nats::ServerAddr>, ConnectError> {
    url.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| {
            u.parse()
                .map_err(|e| ConnectError::Config(format!("NATS URL {u:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()
        .and_then(|v| {
            if v.is_empty() {
                Err(ConnectError::Config("no NATS URL given".into()))
            } else {
                Ok(v)
            }
        })
}

/// Logs what the connection reports; a refused operation (a permission the
/// service's user lacks) is a warning, since it means a broken deployment.
fn log_event(role: Role, event: Event) {
    let service = role.user();
    match event {
        Event::ServerError(e) => tracing::warn!(service, error = %e, "NATS refused an operation"),
        Event::Disconnected => tracing::warn!(service, "disconnected from NATS"),
        Event::Connected => tracing::info!(service, "connected to NATS"),
        Event::ClientError(e) => tracing::warn!(service, error = %e, "NATS client error"),
        other => tracing::debug!(service, event = %other, "NATS event"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_have_their_own_users_and_inboxes() {
        let users: std::collections::HashSet<_> = Role::ALL.iter().map(|r| r.user()).collect();
        assert_eq!(users.len(), Role::ALL.len());
        assert_eq!(Role::Egress.inbox_prefix(), "_INBOX_egress");
        // A prefix never contains another's: `_INBOX_edge` is not a prefix
        // of a subject under `_INBOX_egress`, since subjects split on dots.
        for role in Role::ALL {
            assert!(!role.inbox_prefix().contains('.'));
        }
    }

    #[test]
    fn users_env_lines_name_their_user() {
        let p =
            parse_passwords("MOAT_NATS_PASSWORD_EDGE=pa\nOTHER=x\nMOAT_NATS_PASSWORD_ADMIN=pb\n");
        assert_eq!(p.len(), 2);
        assert_eq!(p["edge"], "pa");
        assert_eq!(p["admin"], "pb");
    }

    #[test]
    fn a_url_may_list_a_clusters_servers() {
        assert_eq!(servers("nats://127.0.0.1:4222").unwrap().len(), 1);
        assert_eq!(
            servers("nats://127.0.0.1:4222, nats://127.0.0.1:4223")
                .unwrap()
                .len(),
            2
        );
        assert!(servers("").is_err());
        assert!(servers("nats://127.0.0.1:99999").is_err());
    }

    #[test]
    fn one_way_of_authenticating() {
        assert!(NatsAuth::password("edge", "x").validate().is_ok());
        assert!(NatsAuth::default().validate().is_ok());
        let both = NatsAuth {
            creds: Some("a.creds".into()),
            ..NatsAuth::password("edge", "x")
        };
        assert!(both.validate().unwrap_err().contains("give one of"));
        let half_cert = NatsAuth {
            tls_cert: Some("c.pem".into()),
            ..NatsAuth::default()
        };
        assert!(half_cert.validate().is_err());
        let no_password = NatsAuth {
            user: Some("edge".into()),
            ..NatsAuth::default()
        };
        assert!(no_password.validate().is_err());
        let shown = format!("{:?}", NatsAuth::password("edge", "s3cret"));
        assert!(
            !shown.contains("s3cret") && shown.contains("edge"),
            "{shown}"
        );
    }
}
