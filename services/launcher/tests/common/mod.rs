//! The launcher tests' harnesses: the shared real-server harnesses from
//! `moat-testkit`, plus sandboxes from a test containerd and the project's
//! rootfs.
#![allow(dead_code)]

use moat_launcher::sandbox::SandboxConfig;
use moat_testkit::{root, Containerd};

/// Sandboxes from `ctr` and the project's rootfs (`just rootfs` builds it).
pub fn sandbox_config(ctr: &Containerd) -> SandboxConfig {
    let rootfs = root().join(".run/rootfs");
    assert!(
        rootfs.join("moat-runner").is_file(),
        "build the sandbox rootfs first: scripts/rootfs.sh (just test does)"
    );
    SandboxConfig {
        socket: ctr.socket.clone(),
        namespace: "moat-test".into(),
        runtime_binary: ctr.runtime_binary(),
        runtime_root: ctr.runtime_root(),
        rootfs,
        io_dir: ctr.io_dir(),
        instance: "test".into(),
        runner_args: vec!["/moat-runner".into(), "--modules".into(), "/modules".into()],
        browser_rootfs: Some(root().join(".run/rootfs-browser"))
            .filter(|r| r.join("usr/lib/chromium/chromium").is_file()),
    }
}
