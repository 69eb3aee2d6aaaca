//! `moat-probe`: stands in for a subverted runner inside a sandbox and
//! reports, as one JSON object on stdout, what it can see and reach: the
//! environment, the host's files and processes, the network, the filesystem.
//! The launcher's isolation tests assert on the report. Usage:
//! `moat-probe HOST_PORT` (a TCP port listening on the host's loopback).

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(1);
    let pids: Vec<String> = std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
                .collect()
        })
        .unwrap_or_default();
    let cmdlines: Vec<String> = pids
        .iter()
        .filter_map(|p| std::fs::read(format!("/proc/{p}/cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .collect();
    let interfaces: Vec<String> = std::fs::read_to_string("/proc/net/dev")
        .unwrap_or_default()
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next().map(|s| s.trim().to_owned()))
        .collect();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok();
    let report = serde_json::json!({
        "env": std::env::vars().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
        "uid": std::fs::read_to_string("/proc/self/status").unwrap_or_default()
            .lines().find(|l| l.starts_with("Uid:")).unwrap_or("").to_owned(),
        "shadow_readable": std::fs::read("/etc/shadow").is_ok(),
        "passwd_readable": std::fs::read("/etc/passwd").is_ok(),
        "root_entries": std::fs::read_dir("/").map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect::<Vec<_>>()).unwrap_or_default(),
        "pids": pids.len(),
        "cmdlines": cmdlines,
        "interfaces": interfaces,
        "host_tcp_connected": tcp,
        "root_writable": std::fs::write("/probe", b"x").is_ok(),
        "tmp_writable": std::fs::write("/tmp/probe", b"x").is_ok(),
        "kernel": std::fs::read_to_string("/proc/version").unwrap_or_default(),
    });
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{report}");
}
