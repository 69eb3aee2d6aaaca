//! `just up` end to end, as a newcomer meets it: `moat up` starts the real
//! system (nats-server, containerd + runsc, a launcher, the recorder, the
//! edge) on free loopback ports; `moat run` runs scripts through it and
//! downloads their files; headless Chromium drives the web playground; a
//! killed service comes back; Ctrl-C stops everything. Needs root, the
//! rootfs (`just rootfs`) and the playground bundle (`just web`).

mod support;

use std::path::PathBuf;
use std::process::Command;

use moat_testkit::{free_port, is_root, root};
use support::{alive, free_ports, metrics_text, moat_run, processes_naming, text, Up};

#[test]
fn up_runs_scripts_serves_the_playground_restarts_and_stops() {
    assert!(is_root(), "moat up needs root (containerd and runsc do)");
    let web = root().join("web/dist/index.html");
    assert!(
        web.is_file(),
        "{} is missing: run `just web`",
        web.display()
    );
    let mut up = Up::start();
    up.wait_for("\"moat is up\"", 1, |l| l.contains("moat is up."));
    assert!(up.log().contains(&format!("playground  {}/", up.url)));

    // A script that saves an image: live output, the file downloaded.
    let out_dir = tempfile::tempdir().unwrap();
    let image = moat_run(
        &up,
        &[
            "--out",
            out_dir.path().to_str().unwrap(),
            "examples/image.js",
        ],
    );
    let stdout = text(&image.stdout);
    assert_eq!(
        image.status.code(),
        Some(0),
        "{stdout}{}",
        text(&image.stderr)
    );
    assert!(stdout.contains("saved mandelbrot.png"), "{stdout}");
    assert!(
        stdout.contains("file mandelbrot.png (image/png"),
        "{stdout}"
    );
    assert!(stdout.contains("✓ ok"), "{stdout}");
    let png = std::fs::read(out_dir.path().join("mandelbrot.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");

    // Every metric the Grafana dashboard charts is served by a running
    // service (names from helm/moat/dashboards/metrics.txt).
    let scraped: String = (0..4).map(|i| metrics_text(up.metrics_port + i)).collect();
    let dashboard =
        std::fs::read_to_string(root().join("helm/moat/dashboards/metrics.txt")).unwrap();
    let names: Vec<&str> = dashboard
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert!(names.len() >= 10, "{dashboard}");
    for name in names {
        let served = scraped.lines().any(|l| {
            l.strip_prefix(name).is_some_and(|rest| {
                ["{", " ", "_bucket{", "_sum", "_count"]
                    .iter()
                    .any(|p| rest.starts_with(p))
            })
        });
        assert!(
            served,
            "the dashboard charts {name}, which no service serves"
        );
    }

    // An endless loop ends at its deadline, with the outcome's exit code.
    let spin = moat_run(&up, &["--timeout-ms", "1000", "examples/loop.js"]);
    assert_eq!(spin.status.code(), Some(13), "{}", text(&spin.stdout));
    assert!(text(&spin.stdout).contains("✗ timeout"));

    // The edge's refusal reads as a sentence.
    let greedy = moat_run(&up, &["--timeout-ms", "600000", "examples/hello.js"]);
    assert_eq!(greedy.status.code(), Some(1));
    let said = text(&greedy.stderr);
    assert!(said.contains("The server refused the script:"), "{said}");
    let stranger = moat_run(&up, &["--key", "moat_not_a_real_key", "examples/hello.js"]);
    assert_eq!(stranger.status.code(), Some(1));
    let said = text(&stranger.stderr);
    assert!(said.contains("The API key was not accepted"), "{said}");

    // The playground, in headless Chromium: type, run, see output and image.
    let shot = out_dir.path().join("playground.png");
    let page = Command::new("node")
        .current_dir(root())
        .arg(PathBuf::from("web/e2e/playground.mjs"))
        .arg(&up.url)
        .arg(&shot)
        .output()
        .expect("node runs");
    assert!(
        page.status.success(),
        "playground e2e failed:\n{}{}",
        text(&page.stdout),
        text(&page.stderr)
    );
    assert!(text(&page.stdout).contains("e2e ok"));
    assert!(std::fs::metadata(&shot).unwrap().len() > 0);

    // A service that dies is started again, and runs go on.
    let recorder = up.pids("recorder");
    assert_eq!(recorder.len(), 1, "{}", up.log());
    let _ = Command::new("kill")
        .args(["-KILL", &recorder[0].to_string()])
        .status();
    up.wait_for("a restarted recorder", 2, |l| {
        l.starts_with("recorder ") && l.contains("started (pid")
    });
    // The new recorder records: a file downloads only once its run is recorded.
    let again_dir = tempfile::tempdir().unwrap();
    let again = moat_run(
        &up,
        &[
            "--out",
            again_dir.path().to_str().unwrap(),
            "examples/image.js",
        ],
    );
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert!(again_dir.path().join("mandelbrot.png").is_file());
    assert!(
        !processes_naming(up.dir.path()).is_empty(),
        "the services name their run directory"
    );

    // Ctrl-C stops everything, launchers and infrastructure included.
    let pids: Vec<i32> = ["nats", "containerd", "recorder", "launcher-0", "edge"]
        .iter()
        .flat_map(|s| up.pids(s))
        .collect();
    assert!(pids.len() >= 6, "{}", up.log());
    let status = up.interrupt();
    assert!(status.success(), "{status}\n{}", up.log());
    let log = up.log();
    assert!(log.contains("exited (signal: 9"), "{log}");
    assert!(log.trim_end().ends_with("stopped"), "{log}");
    for pid in pids {
        assert!(!alive(pid), "pid {pid} still runs after moat up stopped");
    }
    // Nothing of it is left: no service, shim or sandbox names its directory.
    let left = processes_naming(up.dir.path());
    assert!(
        left.is_empty(),
        "still running after moat up stopped:\n{}",
        left.join("\n")
    );
}

#[test]
fn up_refuses_what_it_cannot_run_and_says_how_to_fix_it() {
    assert!(is_root(), "this test switches to the nobody user");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let _ = Command::new("chmod").arg("777").arg(dir.path()).status();
    let _ = Command::new("chmod").arg("777").arg(&state).status();
    let out = Command::new("runuser")
        .args(["-u", "nobody", "--"])
        .arg(env!("CARGO_BIN_EXE_moat"))
        .args(["up", "--dir"])
        .arg(&state)
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--nats-port", &free_port().to_string()])
        .args(["--metrics-port", &free_ports(4).to_string()])
        .arg("--rootfs")
        .arg(dir.path().join("no-rootfs"))
        .arg("--bin-dir")
        .arg(dir.path().join("no-bin"))
        .current_dir(root())
        .output()
        .expect("runuser runs");
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stderr);
    for expected in [
        "moat up cannot start:",
        "root: containerd and gVisor need it",
        "moat-edge is not built",
        "the sandbox rootfs is not built",
        "`just rootfs`",
    ] {
        assert!(said.contains(expected), "{expected:?} not in:\n{said}");
    }
    // It started nothing.
    assert!(!state.join("nats").exists() && !state.join("containerd").exists());
}
