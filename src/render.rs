//! How a run looks to a person in a terminal: log lines, saved files and the
//! closing summary. Pure functions from frames to text, so `moat exec` today
//! and `moat run` (events over WebSocket) tomorrow print runs the same way.

use moat_wire::{LogFrame, LogLevel, Outcome, ResultFrame};

/// Whether to use ANSI colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// Emit colour escapes.
    pub color: bool,
}

impl Style {
    /// Colour when `NO_COLOR` is unset and the stream is a terminal.
    pub fn detect(is_terminal: bool) -> Self {
        Self {
            color: is_terminal && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    /// Text de-emphasised (timings, ids).
    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }

    /// Text to notice (a retry, a warning of ours).
    pub fn warn(&self, text: &str) -> String {
        self.paint("33", text)
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// A script's text made safe for a terminal: control characters (escape
/// sequences could move the cursor, rewrite lines, fake our "✓ ok", or set
/// the clipboard) are shown as `\u{..}`; newlines and tabs stay.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Whether a log line belongs on stderr (warnings and errors) rather than stdout.
pub fn to_stderr(level: LogLevel) -> bool {
    matches!(level, LogLevel::Warn | LogLevel::Error)
}

/// One console line: a dim timestamp, then the message coloured by level.
pub fn log_line(log: &LogFrame, style: Style) -> String {
    let stamp = style.paint("2", &format!("[{:>6} ms]", log.ts_ms));
    let text = printable(&log.msg);
    let msg = match log.level {
        LogLevel::Debug => style.paint("2", &text),
        LogLevel::Info => text.into_owned(),
        LogLevel::Warn => style.paint("33", &text),
        LogLevel::Error => style.paint("31", &text),
    };
    // Continuation lines line up under the message.
    let indent = " ".repeat(12);
    format!("{stamp} {}", msg.replace('\n', &format!("\n{indent}")))
}

/// A saved file, and where it went (if anywhere).
pub fn file_line(
    name: &str,
    media_type: &str,
    size: u64,
    saved_to: Option<&str>,
    style: Style,
) -> String {
    let place = match saved_to {
        Some(path) => format!("→ {path}"),
        None => "(not kept: pass --out DIR)".to_owned(),
    };
    format!(
        "{} {name} ({media_type}, {}) {place}",
        style.paint("36", "file"),
        human_bytes(size)
    )
}

/// One finished request of the script's: method, URL (query cut: it may
/// hold secrets), and its status or why it failed, size and time.
pub fn net_line(
    method: &str,
    url: &str,
    status: Option<u16>,
    error: Option<(&str, &str)>,
    bytes: u64,
    ms: u64,
    style: Style,
) -> String {
    let url = moat_wire::redact_query(url);
    let how = match (status, error) {
        (_, Some((code, message))) => style.paint("31", &format!("{code}: {message}")),
        (Some(status), None) => format!("{status}, {}", human_bytes(bytes)),
        (None, None) => "no answer".to_owned(),
    };
    format!(
        "{} {method} {url} → {how} ({ms} ms)",
        style.paint("35", "net ")
    )
}

/// Where a run's time went, one line (`moat run --timings`): the client's
/// own submit→result and first-event times, then the launcher's stages.
pub fn timings(
    first_event: Option<std::time::Duration>,
    result: std::time::Duration,
    stages: Option<&moat_wire::Stages>,
) -> String {
    let ms = |us: u64| format!("{:.1} ms", us as f64 / 1000.0);
    let mut parts = vec![format!("submit→result {}", ms(result.as_micros() as u64))];
    if let Some(first) = first_event {
        parts.push(format!(
            "submit→first event {}",
            ms(first.as_micros() as u64)
        ));
    }
    match stages {
        Some(stages) => {
            for (name, us) in stages.named() {
                let mut part = format!("{name} {}", ms(us));
                if name == "acquire" {
                    part.push_str(if stages.warm { " (warm)" } else { " (cold)" });
                }
                parts.push(part);
            }
        }
        None => parts.push("the server sent no stages".into()),
    }
    format!("timings: {}", parts.join(" · "))
}

/// The closing lines: outcome, timings, and the value or the error.
pub fn summary(result: &ResultFrame, style: Style) -> String {
    let mut out = String::new();
    let timings = format!(
        "{} ms wall, {} ms cpu, {} heap peak",
        result.wall_ms,
        result.cpu_ms,
        human_bytes(result.heap_peak_bytes)
    );
    let head = if result.outcome == Outcome::Ok {
        style.paint("32", "✓ ok")
    } else {
        style.paint("31", &format!("✗ {}", result.outcome))
    };
    out.push_str(&format!(
        "{head} {}\n",
        style.paint("2", &format!("({timings})"))
    ));
    if let Some(value) = &result.value {
        let pretty = serde_json::to_string_pretty(value).unwrap_or_default();
        out.push_str(&format!("value: {pretty}\n"));
    }
    if let Some(e) = &result.error {
        let mut line = format!("{}: {}", printable(&e.name), printable(&e.message));
        if let Some(spec) = &e.specifier {
            line.push_str(&format!(" [specifier {spec:?}]"));
        }
        if let (Some(l), Some(c)) = (e.line, e.column) {
            line.push_str(&format!(" [line {l}, column {c}]"));
        }
        out.push_str(&style.paint("31", &line));
        out.push('\n');
        if let Some(stack) = &e.stack {
            out.push_str(&style.paint("2", printable(stack.trim_end()).as_ref()));
            out.push('\n');
        }
    }
    out
}

/// Sizes the way people read them.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_wire::ScriptError;

    const PLAIN: Style = Style { color: false };

    #[test]
    fn log_lines_keep_multiline_messages_aligned() {
        let line = log_line(
            &LogFrame {
                level: LogLevel::Info,
                msg: "a\nb".into(),
                ts_ms: 7,
            },
            PLAIN,
        );
        assert_eq!(line, "[     7 ms] a\n            b");
        let red = log_line(
            &LogFrame {
                level: LogLevel::Error,
                msg: "x".into(),
                ts_ms: 0,
            },
            Style { color: true },
        );
        assert!(red.contains("\x1b[31mx\x1b[0m"));
    }

    #[test]
    fn summaries_say_what_happened() {
        let ok = ResultFrame {
            outcome: Outcome::Ok,
            value: Some(serde_json::json!({"a": 1})),
            error: None,
            cpu_ms: 3,
            wall_ms: 5,
            heap_peak_bytes: 2048,
        };
        let text = summary(&ok, PLAIN);
        assert!(text.starts_with("✓ ok (5 ms wall, 3 ms cpu, 2.0 KiB heap peak)"));
        assert!(text.contains("\"a\": 1"));
        let bad = ResultFrame {
            outcome: Outcome::SyntaxError,
            value: None,
            error: Some(ScriptError {
                line: Some(2),
                column: Some(4),
                ..ScriptError::new("SyntaxError", "unexpected token")
            }),
            ..ok
        };
        let text = summary(&bad, PLAIN);
        assert!(text.starts_with("✗ syntax_error"));
        assert!(text.contains("SyntaxError: unexpected token [line 2, column 4]"));
    }

    #[test]
    fn escape_sequences_from_scripts_are_shown_not_obeyed() {
        let line = log_line(
            &LogFrame {
                level: LogLevel::Info,
                msg: "\x1b[2K\r✓ ok\x07\tx\ny\u{9b}".into(),
                ts_ms: 1,
            },
            PLAIN,
        );
        assert!(!line
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t'));
        assert!(line.contains("\\u{1b}[2K\\u{d}✓ ok\\u{7}\tx"), "{line}");
        assert_eq!(printable("plain\ttext\n"), "plain\ttext\n");
    }

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB");
    }
}
