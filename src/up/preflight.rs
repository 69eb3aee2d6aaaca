//! Why `moat up` would refuse to start, checked before anything starts:
//! root, containerd and runsc installed, the service binaries and the sandbox
//! rootfs built, the scripts present, and every port distinct and free. Each
//! refusal is a sentence with its fix; none is repaired here.

use std::net::TcpListener;

use super::Layout;
use crate::supervise::which;

impl Layout {
    /// Everything missing, each as a sentence with its fix.
    pub fn missing(&self) -> Vec<String> {
        let mut missing = Vec::new();
        if !nix::unistd::geteuid().is_root() {
            missing
                .push("root: containerd and gVisor need it; run as root (sudo just up)".to_owned());
        }
        for (program, package) in [("containerd", "containerd"), ("runsc", "runsc (gVisor)")] {
            if which(program).is_none() {
                missing.push(format!(
                    "{package} is not installed: `just deps` installs it (apt-get install {program})"
                ));
            }
        }
        for binary in ["moat-edge", "moat-launcher", "moat-recorder", "moat-egress"] {
            if !self.bin_dir.join(binary).is_file() {
                missing.push(format!(
                    "{binary} is not built in {}: `just build` builds it",
                    self.bin_dir.display()
                ));
            }
        }
        if !self.rootfs.join("moat-runner").is_file() {
            missing.push(format!(
                "the sandbox rootfs is not built in {}: `just rootfs` builds it",
                self.rootfs.display()
            ));
        }
        for script in ["nats.sh", "containerd.sh"] {
            if !self.scripts.join(script).is_file() {
                missing.push(format!(
                    "{} is missing: run moat up from the repository (or pass --scripts)",
                    self.scripts.join(script).display()
                ));
            }
        }
        if self.launchers == 0 {
            missing.push("--launchers must be at least 1".to_owned());
        }
        if ![1, 3, 5].contains(&self.nats_nodes) {
            missing.push(format!(
                "--nats-nodes {} must be 1, or 3 or 5 (a cluster needs a majority to stay up)",
                self.nats_nodes
            ));
            return missing;
        }
        if u32::from(self.nats_port) + 2 * u32::from(self.nats_nodes) > u32::from(u16::MAX) {
            missing.push(format!(
                "--nats-port {} leaves no room for {} nodes' ports",
                self.nats_port, self.nats_nodes
            ));
            return missing;
        }
        if u32::from(self.metrics_port) + 2 + u32::from(self.launchers) > u32::from(u16::MAX) {
            missing.push(format!(
                "--metrics-port {} leaves no room for {} launchers' ports",
                self.metrics_port, self.launchers
            ));
            return missing;
        }
        let ports = self.ports();
        for (i, (addr, what)) in ports.iter().enumerate() {
            if let Some((_, other)) = ports[..i].iter().find(|(a, _)| a.port() == addr.port()) {
                missing.push(format!(
                    "port {} is given to both {other} and {what}",
                    addr.port()
                ));
            }
        }
        for (addr, what) in ports {
            if TcpListener::bind(addr).is_err() {
                missing.push(format!(
                    "{addr} (for {what}) is in use: is moat already running? (`just down` stops `just infra`)"
                ));
            }
        }
        missing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::up::layout::tests::layout_with;

    #[test]
    fn a_port_in_use_is_named() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let (_dir, layout) = layout_with(&["--listen", &taken.local_addr().unwrap().to_string()]);
        let missing = layout.missing();
        assert!(
            missing
                .iter()
                .any(|m| m.contains("(for the edge) is in use")),
            "{missing:?}"
        );
        let (_dir, clash) = layout_with(&["--nats-port", "19300", "--metrics-port", "19299"]);
        let missing = clash.missing();
        assert!(
            missing.iter().any(|m| m
                .contains("port 19300 is given to both nats-server and the recorder's metrics")),
            "{missing:?}"
        );
        let (_dir, overflow) = layout_with(&["--metrics-port", "65534"]);
        assert!(overflow
            .missing()
            .iter()
            .any(|m| m.contains("leaves no room")));
    }
}
