//! `moat exec` end to end: the real `moat` and `moat-runner` binaries, the
//! example scripts, and the example module whitelist installed from npm.
//!
//! `just test` builds every binary first; `moat-runner` is found beside `moat`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn moat(args: &[&str]) -> Output {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_moat"));
    let runner = bin.with_file_name("moat-runner");
    assert!(
        runner.is_file(),
        "build the runner first: cargo build --workspace --bins"
    );
    Command::new(bin)
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env_remove("MOAT_MODULES")
        .env_remove("MOAT_RUNNER")
        .output()
        .expect("run moat")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn hello_prints_logs_value_and_exits_zero() {
    let out = moat(&["exec", "examples/hello.js"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("hello from moat { answer: 42, list: [ 1, 2, 3 ] }"),
        "{stdout}"
    );
    assert!(stdout.contains("✓ ok"), "{stdout}");
    assert!(stdout.contains("\"greeting\": \"hello\""), "{stdout}");
    assert!(text(&out.stderr).contains("no OS sandbox"));
}

#[test]
fn json_mode_prints_the_frames_unchanged() {
    let out = moat(&["exec", "--json", "examples/hello.js"]);
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is a JSON frame"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["t"], "log");
    assert_eq!(lines[1]["t"], "result");
    assert_eq!(lines[1]["outcome"], "ok");
    assert_eq!(lines[1]["value"]["greeting"], "hello");
}

#[test]
fn saved_files_land_in_the_out_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = moat(&[
        "exec",
        "examples/image.js",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let png = std::fs::read(dir.path().join("mandelbrot.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(text(&out.stdout).contains("mandelbrot.png (image/png"));
}

#[test]
fn a_loop_times_out_with_its_exit_code() {
    let out = moat(&["exec", "--timeout-ms", "300", "examples/loop.js"]);
    assert_eq!(out.status.code(), Some(13));
    assert!(text(&out.stdout).contains("✗ timeout"));
}

#[test]
fn the_example_whitelist_serves_an_npm_package() {
    assert!(
        root()
            .join("modules/node_modules/lodash-es/lodash.js")
            .is_file(),
        "install the example whitelist first: just modules"
    );
    let out = moat(&["exec", "--modules", "modules", "examples/lodash.js"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("[ [ 1, 2 ], [ 3, 4 ], [ 5 ] ]"), "{stdout}");
    assert!(stdout.contains("\"compilers\""), "{stdout}");
    // Without the whitelist the same import is refused.
    let out = moat(&["exec", "examples/lodash.js"]);
    assert_eq!(out.status.code(), Some(12));
    assert!(text(&out.stdout).contains("[specifier \"lodash-es\"]"));
}

#[test]
fn bad_arguments_are_sentences_not_panics() {
    let out = moat(&["exec", "no/such/file.js"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read no/such/file.js"));
    let out = moat(&["exec", "--memory-mb", "1", "examples/hello.js"]);
    assert!(text(&out.stderr).contains("memory_mb 1 is out of range"));
    let out = moat(&["exec", "--runner", "/nonexistent", "examples/hello.js"]);
    assert!(text(&out.stderr).contains("moat-runner not found at /nonexistent"));
}

#[test]
fn the_playground_examples_end_as_they_say() {
    // The examples menu of the web playground is these files.
    for (file, code, says) in [
        ("examples/async.js", 0, "primes in [100000, 150000)"),
        (
            "examples/error.js",
            10,
            "TypeError: not a JSON object: debug = true",
        ),
        ("examples/oom.js", 14, "✗ oom"),
    ] {
        let out = moat(&["exec", "--memory-mb", "32", file]);
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(code), "{file}: {all}");
        assert!(all.contains(says), "{file}: {says:?} not in {all}");
    }
}
