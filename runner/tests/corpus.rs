//! The runner's integration corpus: every script under `tests/scripts/` (at
//! the workspace root) is run through the real `moat-runner` binary, one
//! `#[test]` per script, and checked against what its header declares.
//!
//! # Header format
//!
//! A script starts with `//` comment lines; the header ends at the first line
//! that is not a comment. A header line of the form `// key: value`, where
//! `key` is one word of lowercase letters, digits, `_` or `-`, is a directive;
//! an unknown key is an error (so a typo cannot silently weaken a test). Any
//! other comment line is prose. The value starts after `: `, so further
//! leading spaces are part of it. Directives:
//!
//! | directive | meaning |
//! | --- | --- |
//! | `outcome: timeout` | required: the result frame's outcome |
//! | `timeout_ms: 1000` | the job's deadline (default 3000) |
//! | `memory_mb: 32` | the job's heap limit (default 64) |
//! | `filename: x.js` | the job's filename (default `main.js`) |
//! | `limits: {"max_files": 2}` | output caps to override, as JSON (`OutputLimits` fields) |
//! | `modules: fixture` | run with `--modules tests/modules-fixture` |
//! | `value: <json>` | the result value equals this JSON exactly; `value: none` for no value |
//! | `log: <text>` | some log frame's `msg` contains the text (repeatable) |
//! | `log-level: <level> <text>` | some log frame of that level contains the text (repeatable) |
//! | `no-log: <text>` | no log frame contains the text (repeatable) |
//! | `logs: N`, `logs: >=N`, `logs: <=N` | how many log frames there are |
//! | `file: <name> <type>` | a file frame with that name and media type (repeatable) |
//! | `file-text: <name> <text>` | that file's content, as UTF-8, is exactly the text |
//! | `files: N` (or `>=N`, `<=N`) | how many file frames there are |
//! | `error: <text>` | `error.message` contains the text (repeatable) |
//! | `error-name: <name>` | `error.name` is exactly this |
//! | `stack: <text>` | `error.stack` contains the text |
//! | `specifier: <spec>` | `error.specifier` is exactly this |
//! | `line: N`, `column: N` | `error.line` / `error.column` are exactly these |
//!
//! Every run is also checked for what holds whatever the script does: stdout
//! is frames only, with exactly one result frame and it is last; the exit
//! status is the outcome's code; nothing is written to stderr; the runner
//! finished within twice its deadline (wall time around the child process);
//! each file frame's `size` matches its data, and an `image/png` file is a
//! well-formed PNG (signature, chunk CRCs, IHDR first, IEND last).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use moat_wire::{Frame, Job, LogLevel, Outcome, OutputLimits, ResultFrame};

/// Deadline for scripts whose header names none: generous for the good
/// scripts, which finish in milliseconds; hostile ones set ~1000 ms.
const DEFAULT_TIMEOUT_MS: u64 = 3000;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the runner lives inside the workspace")
        .to_owned()
}

fn scripts_dir() -> PathBuf {
    workspace().join("tests/scripts")
}

fn fixture_dir() -> PathBuf {
    workspace().join("tests/modules-fixture")
}

/// A count with a comparison: `N`, `>=N` or `<=N`.
#[derive(Debug, Clone, Copy)]
enum Count {
    Exactly(usize),
    AtLeast(usize),
    AtMost(usize),
}

impl Count {
    fn parse(s: &str) -> Result<Self, String> {
        let n = |t: &str| t.trim().parse::<usize>().map_err(|e| format!("{s:?}: {e}"));
        if let Some(rest) = s.strip_prefix(">=") {
            Ok(Count::AtLeast(n(rest)?))
        } else if let Some(rest) = s.strip_prefix("<=") {
            Ok(Count::AtMost(n(rest)?))
        } else {
            Ok(Count::Exactly(n(s)?))
        }
    }

    fn holds(self, actual: usize) -> bool {
        match self {
            Count::Exactly(n) => actual == n,
            Count::AtLeast(n) => actual >= n,
            Count::AtMost(n) => actual <= n,
        }
    }
}

/// What a script's header declares.
#[derive(Debug, Default)]
struct Expect {
    outcome: Option<Outcome>,
    timeout_ms: Option<u64>,
    memory_mb: Option<u64>,
    filename: Option<String>,
    limits: Option<OutputLimits>,
    fixture: bool,
    /// `Some(None)`: no value; `Some(Some(v))`: exactly `v`.
    value: Option<Option<serde_json::Value>>,
    logs_containing: Vec<String>,
    logs_at_level: Vec<(LogLevel, String)>,
    logs_without: Vec<String>,
    log_count: Option<Count>,
    files: Vec<(String, String)>,
    file_texts: Vec<(String, String)>,
    file_count: Option<Count>,
    error_messages: Vec<String>,
    error_name: Option<String>,
    stack: Option<String>,
    specifier: Option<String>,
    line: Option<u32>,
    column: Option<u32>,
}

fn parse_header(source: &str) -> Result<Expect, String> {
    let mut e = Expect::default();
    for line in source.lines() {
        let Some(comment) = line.trim_start().strip_prefix("//") else {
            break;
        };
        let comment = comment.trim();
        let Some((key, value)) = comment.split_once(':') else {
            continue;
        };
        let is_key = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !is_key {
            continue;
        }
        // One space after the colon is the separator; more is part of the
        // value (a log line's indentation).
        let value = value.strip_prefix(' ').unwrap_or(value).trim_end();
        let number = |v: &str| {
            v.trim()
                .parse::<u64>()
                .map_err(|err| format!("{key}: {err}"))
        };
        let pair = |v: &str| -> Result<(String, String), String> {
            v.split_once(char::is_whitespace)
                .map(|(a, b)| (a.to_owned(), b.trim().to_owned()))
                .ok_or_else(|| format!("{key}: expected two parts in {v:?}"))
        };
        match key {
            "outcome" => {
                e.outcome = Some(
                    serde_json::from_value(serde_json::Value::String(value.to_owned()))
                        .map_err(|err| format!("outcome {value:?}: {err}"))?,
                )
            }
            "timeout_ms" => e.timeout_ms = Some(number(value)?),
            "memory_mb" => e.memory_mb = Some(number(value)?),
            "filename" => e.filename = Some(value.to_owned()),
            "limits" => {
                e.limits =
                    Some(serde_json::from_str(value).map_err(|err| format!("limits: {err}"))?)
            }
            "modules" if value == "fixture" => e.fixture = true,
            "value" if value == "none" => e.value = Some(None),
            "value" => {
                e.value = Some(Some(
                    serde_json::from_str(value).map_err(|err| format!("value: {err}"))?,
                ))
            }
            "log" => e.logs_containing.push(value.to_owned()),
            "log-level" => {
                let (level, text) = pair(value)?;
                let level = serde_json::from_value(serde_json::Value::String(level))
                    .map_err(|err| format!("log-level: {err}"))?;
                e.logs_at_level.push((level, text));
            }
            "no-log" => e.logs_without.push(value.to_owned()),
            "logs" => e.log_count = Some(Count::parse(value)?),
            "file" => e.files.push(pair(value)?),
            "file-text" => e.file_texts.push(pair(value)?),
            "files" => e.file_count = Some(Count::parse(value)?),
            "error" => e.error_messages.push(value.to_owned()),
            "error-name" => e.error_name = Some(value.to_owned()),
            "stack" => e.stack = Some(value.to_owned()),
            "specifier" => e.specifier = Some(value.to_owned()),
            "line" => e.line = Some(number(value)? as u32),
            "column" => e.column = Some(number(value)? as u32),
            _ => return Err(format!("unknown directive {key:?} in {comment:?}")),
        }
    }
    if e.outcome.is_none() {
        return Err("the header declares no `outcome:`".into());
    }
    Ok(e)
}

/// What came back from one runner process.
struct Run {
    frames: Vec<Frame>,
    /// Lines of stdout that are not frames.
    garbage: Vec<String>,
    stderr: String,
    exit: Option<i32>,
    wall: Duration,
}

fn truncated(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}… ({} bytes)", &s[..cut], s.len())
}

/// Runs the runner on `stdin`, killing it if it outlives `kill_after`.
fn run_runner(stdin: Vec<u8>, modules: Option<&Path>, kill_after: Duration) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_moat-runner"));
    if let Some(dir) = modules {
        cmd.arg("--modules").arg(dir);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_clear();
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawning moat-runner");
    let mut input = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        // The runner may exit (or refuse the job) before reading it all.
        let _ = input.write_all(&stdin);
    });
    let mut out = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let mut err = child.stderr.take().expect("stderr");
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let (status, wall) = loop {
        if let Some(status) = child.try_wait().expect("waiting for moat-runner") {
            break (Some(status), started.elapsed());
        }
        if started.elapsed() > kill_after {
            let _ = child.kill();
            let _ = child.wait();
            break (None, started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let _ = writer.join();
    let stdout = reader.join().expect("stdout reader");
    let stderr = err_reader.join().expect("stderr reader");
    let mut frames = Vec::new();
    let mut garbage = Vec::new();
    for line in stdout.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        match Frame::decode(line) {
            Ok(frame) => frames.push(frame),
            Err(e) => garbage.push(format!(
                "{e}: {}",
                truncated(&String::from_utf8_lossy(line), 200)
            )),
        }
    }
    Run {
        frames,
        garbage,
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        exit: status.and_then(|s| s.code()),
        wall,
    }
}

/// The frames that every run must have: only frames, one result, last.
fn check_protocol(run: &Run, failures: &mut Vec<String>) -> Option<ResultFrame> {
    for g in &run.garbage {
        failures.push(format!("stdout line is not a frame: {g}"));
    }
    let results = run
        .frames
        .iter()
        .filter(|f| matches!(f, Frame::Result(_)))
        .count();
    if results != 1 {
        failures.push(format!("expected exactly one result frame, got {results}"));
    }
    match run.frames.last() {
        Some(Frame::Result(r)) => {
            match run.exit {
                Some(code) if code == i32::from(r.outcome.exit_code()) => {}
                other => failures.push(format!(
                    "exit status {other:?}, but outcome {} has code {}",
                    r.outcome,
                    r.outcome.exit_code()
                )),
            }
            Some(r.clone())
        }
        _ => {
            failures.push("the last frame is not the result".into());
            None
        }
    }
}

fn check_files(run: &Run, failures: &mut Vec<String>) {
    for frame in &run.frames {
        let Frame::File(f) = frame else { continue };
        let data = match base64::engine::general_purpose::STANDARD.decode(&f.data) {
            Ok(d) => d,
            Err(e) => {
                failures.push(format!("file {:?}: data is not base64: {e}", f.name));
                continue;
            }
        };
        if data.len() as u64 != f.size {
            failures.push(format!(
                "file {:?}: size says {} but data has {} bytes",
                f.name,
                f.size,
                data.len()
            ));
        }
        if f.media_type == "image/png" {
            if let Err(e) = check_png(&data) {
                failures.push(format!("file {:?} is not a valid PNG: {e}", f.name));
            }
        }
    }
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Signature, chunk framing and CRCs, IHDR first with a non-zero size, IEND last.
fn check_png(data: &[u8]) -> Result<(), String> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    let mut rest = data.strip_prefix(SIGNATURE).ok_or("no PNG signature")?;
    let mut types = Vec::new();
    while !rest.is_empty() {
        if rest.len() < 12 {
            return Err("truncated chunk".into());
        }
        let len = u32::from_be_bytes(rest[0..4].try_into().unwrap()) as usize;
        if rest.len() < 12 + len {
            return Err("chunk longer than the file".into());
        }
        let body = &rest[4..8 + len];
        let crc = u32::from_be_bytes(rest[8 + len..12 + len].try_into().unwrap());
        let kind = String::from_utf8_lossy(&body[..4]).into_owned();
        if crc32(body) != crc {
            return Err(format!("bad CRC in chunk {kind}"));
        }
        if kind == "IHDR" {
            let w = u32::from_be_bytes(body[4..8].try_into().unwrap());
            let h = u32::from_be_bytes(body[8..12].try_into().unwrap());
            if len != 13 || w == 0 || h == 0 {
                return Err(format!("bad IHDR ({len} bytes, {w}x{h})"));
            }
        }
        types.push(kind);
        rest = &rest[12 + len..];
    }
    if types.first().map(String::as_str) != Some("IHDR") {
        return Err(format!("first chunk is not IHDR: {types:?}"));
    }
    if types.last().map(String::as_str) != Some("IEND") {
        return Err(format!("last chunk is not IEND: {types:?}"));
    }
    if !types.iter().any(|t| t == "IDAT") {
        return Err("no IDAT chunk".into());
    }
    Ok(())
}

fn check_expectations(e: &Expect, run: &Run, result: &ResultFrame, failures: &mut Vec<String>) {
    let outcome = e.outcome.expect("parse_header requires it");
    if result.outcome != outcome {
        failures.push(format!(
            "outcome is {}, expected {outcome} (error: {:?})",
            result.outcome, result.error
        ));
    }
    if let Some(expected) = &e.value {
        if &result.value != expected {
            failures.push(format!(
                "value is {}, expected {}",
                result
                    .value
                    .as_ref()
                    .map_or("none".into(), |v| truncated(&v.to_string(), 2000)),
                expected.as_ref().map_or("none".into(), |v| v.to_string())
            ));
        }
    }
    let logs: Vec<(LogLevel, &str)> = run
        .frames
        .iter()
        .filter_map(|f| match f {
            Frame::Log(l) => Some((l.level, l.msg.as_str())),
            _ => None,
        })
        .collect();
    let show_logs = || {
        let shown: Vec<String> = logs
            .iter()
            .take(20)
            .map(|(l, m)| format!("  [{l:?}] {}", truncated(m, 300)))
            .collect();
        format!("{} log frames:\n{}", logs.len(), shown.join("\n"))
    };
    for text in &e.logs_containing {
        if !logs.iter().any(|(_, m)| m.contains(text.as_str())) {
            failures.push(format!("no log contains {text:?}; {}", show_logs()));
        }
    }
    for (level, text) in &e.logs_at_level {
        if !logs
            .iter()
            .any(|(l, m)| l == level && m.contains(text.as_str()))
        {
            failures.push(format!(
                "no {level:?} log contains {text:?}; {}",
                show_logs()
            ));
        }
    }
    for text in &e.logs_without {
        if let Some((_, m)) = logs.iter().find(|(_, m)| m.contains(text.as_str())) {
            failures.push(format!("a log contains {text:?}: {}", truncated(m, 300)));
        }
    }
    if let Some(count) = e.log_count {
        if !count.holds(logs.len()) {
            failures.push(format!("expected {count:?} log frames; {}", show_logs()));
        }
    }
    let files: Vec<_> = run
        .frames
        .iter()
        .filter_map(|f| match f {
            Frame::File(f) => Some(f),
            _ => None,
        })
        .collect();
    for (name, media_type) in &e.files {
        if !files
            .iter()
            .any(|f| &f.name == name && &f.media_type == media_type)
        {
            let seen: Vec<_> = files
                .iter()
                .map(|f| format!("{} ({})", f.name, f.media_type))
                .collect();
            failures.push(format!(
                "no file frame {name:?} of type {media_type:?}; files: {seen:?}"
            ));
        }
    }
    for (name, text) in &e.file_texts {
        match files.iter().find(|f| &f.name == name) {
            None => failures.push(format!("no file frame {name:?}")),
            Some(f) => {
                let data = base64::engine::general_purpose::STANDARD
                    .decode(&f.data)
                    .unwrap_or_default();
                if data != text.as_bytes() {
                    failures.push(format!(
                        "file {name:?} holds {:?}, expected {text:?}",
                        String::from_utf8_lossy(&data)
                    ));
                }
            }
        }
    }
    if let Some(count) = e.file_count {
        if !count.holds(files.len()) {
            failures.push(format!(
                "expected {count:?} file frames, got {}",
                files.len()
            ));
        }
    }
    let error = result.error.as_ref();
    let wants_error = !e.error_messages.is_empty()
        || e.error_name.is_some()
        || e.stack.is_some()
        || e.specifier.is_some()
        || e.line.is_some()
        || e.column.is_some();
    match error {
        None if wants_error => failures.push("the result has no error".into()),
        None => {}
        Some(err) => {
            for text in &e.error_messages {
                if !err.message.contains(text.as_str()) {
                    failures.push(format!(
                        "error message {:?} does not contain {text:?}",
                        truncated(&err.message, 500)
                    ));
                }
            }
            if let Some(name) = &e.error_name {
                if &err.name != name {
                    failures.push(format!("error name is {:?}, expected {name:?}", err.name));
                }
            }
            if let Some(text) = &e.stack {
                if !err.stack.as_deref().unwrap_or("").contains(text.as_str()) {
                    failures.push(format!(
                        "error stack {:?} does not contain {text:?}",
                        err.stack
                    ));
                }
            }
            if e.specifier.is_some() && err.specifier != e.specifier {
                failures.push(format!(
                    "error specifier is {:?}, expected {:?}",
                    err.specifier, e.specifier
                ));
            }
            if e.line.is_some() && err.line != e.line {
                failures.push(format!(
                    "error line is {:?}, expected {:?}",
                    err.line, e.line
                ));
            }
            if e.column.is_some() && err.column != e.column {
                failures.push(format!(
                    "error column is {:?}, expected {:?}",
                    err.column, e.column
                ));
            }
        }
    }
    if outcome == Outcome::Ok && error.is_some() {
        failures.push(format!("an ok result carries an error: {error:?}"));
    }
    if outcome != Outcome::Ok && result.value.is_some() {
        failures.push(format!(
            "a {outcome} result carries a value: {:?}",
            result.value
        ));
    }
}

/// Runs `tests/scripts/<name>.js` and checks everything; panics with every
/// failure found, not just the first.
fn run_script(name: &str) {
    let path = scripts_dir().join(format!("{name}.js"));
    let source = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let expect = parse_header(&source).unwrap_or_else(|e| panic!("{name}.js: bad header: {e}"));
    let mut job = Job::new(source.clone());
    job.timeout_ms = expect.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    if let Some(mb) = expect.memory_mb {
        job.memory_mb = mb;
    }
    if let Some(f) = &expect.filename {
        job.filename = f.clone();
    }
    if let Some(limits) = expect.limits {
        job.limits = limits;
    }
    let deadline = Duration::from_millis(job.timeout_ms);
    let modules = expect.fixture.then(fixture_dir);
    let run = run_runner(
        serde_json::to_vec(&job).expect("jobs serialise"),
        modules.as_deref(),
        deadline * 4 + Duration::from_secs(5),
    );

    let mut failures = Vec::new();
    if run.exit.is_none() {
        failures.push(format!(
            "the runner did not exit within {:?} and was killed",
            run.wall
        ));
    }
    if run.wall >= deadline * 2 {
        failures.push(format!(
            "the runner took {:?}, more than twice its deadline of {deadline:?}",
            run.wall
        ));
    }
    if !run.stderr.is_empty() {
        failures.push(format!(
            "the runner wrote to stderr: {}",
            truncated(&run.stderr, 1000)
        ));
    }
    check_files(&run, &mut failures);
    if let Some(result) = check_protocol(&run, &mut failures) {
        check_expectations(&expect, &run, &result, &mut failures);
    }
    if !failures.is_empty() {
        panic!(
            "tests/scripts/{name}.js ({} frames, {:?}):\n- {}",
            run.frames.len(),
            run.wall,
            failures.join("\n- ")
        );
    }
}

/// One `#[test]` per script, and the list of them, which
/// `every_script_is_in_the_corpus` compares with the directory.
macro_rules! corpus {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_script(stringify!($name));
            }
        )*
        const CORPUS: &[&str] = &[$(stringify!($name)),*];
    };
}

corpus! {
    // Good scripts.
    ok_async_flow,
    ok_interval,
    ok_default_sync_function,
    ok_default_async_function,
    ok_default_value,
    ok_default_promise_value,
    ok_top_level_await,
    ok_no_default_export,
    ok_console_format,
    ok_console_levels,
    ok_files_text,
    ok_files_png,
    ok_files_refused,
    ok_text_encoding,
    ok_url,
    ok_structured_clone,
    ok_fetch_shapes,
    ok_fetch_no_host,
    ok_web_crypto,
    ok_base64,
    ok_deep_recursion,
    ok_stack_overflow_caught,
    ok_rejection_handled_in_time,
    ok_fixture_import,
    ok_timers_million_caught,
    ok_import_dynamic_caught,
    ok_thenable_value,
    // Limits.
    limit_while_true,
    limit_regex_backtracking,
    limit_json_parse_loop,
    limit_idle_timer,
    limit_microtask_loop,
    limit_interval_forever,
    limit_oom_array,
    limit_oom_string,
    limit_oom_caught,
    limit_oom_caught_then_return,
    limit_stack_overflow,
    limit_stack_overflow_async,
    limit_log_flood,
    limit_log_huge,
    limit_files_too_many,
    limit_file_too_big,
    limit_file_bytes_total,
    limit_result_huge_string,
    limit_result_huge_array,
    limit_deep_result,
    limit_tojson_forever,
    // Reaching for the host.
    escape_globals,
    escape_constructor_chains,
    escape_callsites,
    // Tampered built-ins.
    tamper_json,
    tamper_array,
    tamper_object,
    tamper_promise,
    tamper_console,
    tamper_string,
    // Errors and hostile values.
    err_throw_number,
    err_throw_object_with_getters,
    err_throw_error_with_getters,
    err_throw_proxy,
    err_thrown_in_timer,
    err_unhandled_rejection,
    err_unhandled_rejection_late,
    err_never_settles,
    err_timers_million,
    err_syntax,
    err_syntax_in_function,
    err_bigint_result,
    err_cyclic_result,
    err_tojson_throws,
    err_huge_string,
    log_hostile_values,
    // Imports.
    import_fs,
    import_os,
    import_node_fs,
    import_moat_unknown,
    import_moat_prelude,
    import_relative,
    import_passwd,
    import_absolute,
    import_http,
    import_dynamic_fs,
    import_whitelist_without_flag,
    import_fixture_deep_path,
    import_fixture_escape_up,
    import_fixture_escape_sibling,
    import_fixture_dynamic_fs,
    import_fixture_syntax_error,
}

#[test]
fn every_script_is_in_the_corpus() {
    let mut on_disk: Vec<String> = std::fs::read_dir(scripts_dir())
        .expect("tests/scripts exists")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".js").map(str::to_owned)
        })
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = CORPUS.iter().map(|s| (*s).to_owned()).collect();
    listed.sort();
    let missing: Vec<_> = on_disk.iter().filter(|n| !listed.contains(n)).collect();
    let stale: Vec<_> = listed.iter().filter(|n| !on_disk.contains(n)).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "scripts not in the corpus! list: {missing:?}; listed but missing: {stale:?}"
    );
}

#[test]
fn every_header_parses() {
    for name in CORPUS {
        let source = std::fs::read_to_string(scripts_dir().join(format!("{name}.js")))
            .unwrap_or_else(|e| panic!("{name}.js: {e}"));
        if let Err(e) = parse_header(&source) {
            panic!("{name}.js: {e}");
        }
    }
}

/// Runs raw stdin (not a script) and returns the one result frame.
fn refused_job(stdin: &[u8]) -> ResultFrame {
    let run = run_runner(stdin.to_vec(), None, Duration::from_secs(10));
    let mut failures = Vec::new();
    let result = check_protocol(&run, &mut failures);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(run.stderr.is_empty(), "stderr: {}", run.stderr);
    assert_eq!(
        run.frames.len(),
        1,
        "a refused job writes only its result: {:?}",
        run.frames
    );
    result.expect("a result frame")
}

#[test]
fn invalid_job_json_is_refused() {
    for stdin in [
        &b"not json"[..],
        b"",
        b"{\"v\":1,\"code\":",
        b"[1,2,3]",
        b"{\"v\":1}",
        b"{\"v\":1,\"code\":42}",
    ] {
        let result = refused_job(stdin);
        assert_eq!(
            result.outcome,
            Outcome::InvalidJob,
            "stdin {:?}",
            String::from_utf8_lossy(stdin)
        );
        assert_eq!(Outcome::InvalidJob.exit_code(), 20);
        assert!(result.value.is_none());
        assert!(result.error.is_some());
    }
}

#[test]
fn unknown_job_field_is_refused() {
    let result = refused_job(br#"{"v":1,"code":"export default 1","env":{"HOME":"/root"}}"#);
    assert_eq!(result.outcome, Outcome::InvalidJob);
    let message = result.error.expect("an error").message;
    assert!(message.contains("env"), "{message}");
    let result =
        refused_job(br#"{"v":1,"code":"export default 1","limits":{"max_files":1,"sneaky":2}}"#);
    assert_eq!(result.outcome, Outcome::InvalidJob);
}

#[test]
fn out_of_range_job_is_refused() {
    for job in [
        r#"{"v":2,"code":"export default 1"}"#,
        r#"{"v":1,"code":"export default 1","timeout_ms":0}"#,
        r#"{"v":1,"code":"export default 1","memory_mb":1}"#,
        r#"{"v":1,"code":"export default 1","filename":"../etc/passwd"}"#,
    ] {
        let result = refused_job(job.as_bytes());
        assert_eq!(result.outcome, Outcome::InvalidJob, "{job}");
    }
}

#[test]
fn a_minimal_job_runs_with_defaults() {
    let run = run_runner(
        br#"{"v":1,"code":"export default 6 * 7"}"#.to_vec(),
        None,
        Duration::from_secs(10),
    );
    let mut failures = Vec::new();
    let result = check_protocol(&run, &mut failures).expect("a result");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(result.outcome, Outcome::Ok);
    assert_eq!(result.value, Some(serde_json::json!(42)));
}

#[test]
fn the_png_checker_catches_a_bad_crc() {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let chunk = |kind: &[u8], data: &[u8], png: &mut Vec<u8>| {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        png.extend_from_slice(&body);
        png.extend_from_slice(&crc32(&body).to_be_bytes());
    };
    chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0], &mut png);
    chunk(b"IDAT", &[1, 2, 3], &mut png);
    chunk(b"IEND", &[], &mut png);
    assert_eq!(check_png(&png), Ok(()));
    let crc_of_idat = png.len() - 12 - 4 - 1;
    png[crc_of_idat] ^= 1;
    assert!(check_png(&png).is_err());
    assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
}
