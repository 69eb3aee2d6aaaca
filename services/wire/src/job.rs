//! The job: what the runner reads on stdin, once, before it runs anything.
//!
//! The edge and the launcher build jobs; the runner trusts nothing in one until
//! [`Job::validate`] has passed, because a job is the only input it has.

use serde::{Deserialize, Serialize};

use crate::frames::PROTOCOL_VERSION;

/// Longest script the runner accepts, in bytes of UTF-8.
pub const MAX_CODE_BYTES: usize = 1024 * 1024;
/// Shortest and longest deadline a job may ask for, in milliseconds.
pub const TIMEOUT_MS_RANGE: (u64, u64) = (1, 600_000);
/// Smallest and largest JS heap a job may ask for, in MiB.
pub const MEMORY_MB_RANGE: (u64, u64) = (8, 4096);
/// The JS heap a job gets when it names none, in MiB.
pub const DEFAULT_MEMORY_MB: u64 = 64;

/// One script to run, with the limits it runs under. Unknown fields are
/// ignored (a newer edge may add some); every known one is validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Protocol version; the runner refuses any other than [`PROTOCOL_VERSION`].
    pub v: u32,
    /// The ES module source.
    pub code: String,
    /// The name the module is known by in stack traces (no path parts).
    #[serde(default = "default_filename")]
    pub filename: String,
    /// Wall-clock deadline for the whole run, idle waits included.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// JS heap limit in MiB.
    #[serde(default = "default_memory_mb")]
    pub memory_mb: u64,
    /// Caps on what the run may send back; set by the operator, not the user.
    #[serde(default)]
    pub limits: OutputLimits,
    /// The run gets a browser (`moat:browser`): the sandbox's browser
    /// profile, Chromium inside it. Absent means no browser.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub browser: bool,
}

fn default_filename() -> String {
    "main.js".to_owned()
}
fn default_timeout_ms() -> u64 {
    5_000
}
fn default_memory_mb() -> u64 {
    DEFAULT_MEMORY_MB
}

impl Job {
    /// A job for `code` with the default name and limits.
    pub fn new(code: impl Into<String>) -> Self {
        Self {
            v: PROTOCOL_VERSION,
            code: code.into(),
            filename: default_filename(),
            timeout_ms: default_timeout_ms(),
            memory_mb: default_memory_mb(),
            limits: OutputLimits::default(),
            browser: false,
        }
    }

    /// Checks every field; the runner runs nothing from a job that fails this.
    pub fn validate(&self) -> Result<(), JobError> {
        if self.v != PROTOCOL_VERSION {
            return Err(JobError::Version(self.v));
        }
        if self.code.len() > MAX_CODE_BYTES {
            return Err(JobError::CodeTooLarge(self.code.len()));
        }
        if !valid_filename(&self.filename) {
            return Err(JobError::Filename(self.filename.clone()));
        }
        let (lo, hi) = TIMEOUT_MS_RANGE;
        if !(lo..=hi).contains(&self.timeout_ms) {
            return Err(JobError::Timeout(self.timeout_ms));
        }
        let (lo, hi) = MEMORY_MB_RANGE;
        if !(lo..=hi).contains(&self.memory_mb) {
            return Err(JobError::Memory(self.memory_mb));
        }
        Ok(())
    }
}

impl Job {
    /// Reads a job the way the runner does, at the sandbox boundary: an
    /// unknown field (top level or in `limits`) is refused, not ignored. The
    /// launcher writes the runner's job itself from the fields it knows, so
    /// only a job that did not come from it can have one.
    pub fn from_slice_strict(bytes: &[u8]) -> Result<Job, String> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("the job is not valid JSON: {e}"))?;
        // Every field, the optional ones set so that they serialise too.
        let template = Job {
            browser: true,
            ..Job::new("")
        };
        let known = serde_json::to_value(template).expect("jobs serialise");
        let unknown = |v: &serde_json::Value, k: &serde_json::Value, at: &str| {
            let (Some(v), Some(k)) = (v.as_object(), k.as_object()) else {
                return Ok(());
            };
            match v.keys().find(|name| !k.contains_key(*name)) {
                Some(name) => Err(format!("the job has an unknown field `{at}{name}`")),
                None => Ok(()),
            }
        };
        unknown(&value, &known, "")?;
        unknown(&value["limits"], &known["limits"], "limits.")?;
        serde_json::from_value(value).map_err(|e| format!("the job is not valid: {e}"))
    }
}

/// A file or module name with no path parts: what users may name things.
pub fn valid_filename(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name != "."
        && !name.contains("..")
        && !name.contains(['/', '\\'])
        && !name.chars().any(char::is_control)
}

/// A valid file name as one URL path segment: names may hold `#`, `?`, `%`
/// or spaces, so everything but unreserved characters is percent-encoded.
pub fn filename_url_segment(name: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'.')
        .remove(b'-')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(name, SEGMENT).to_string()
}

/// Caps on a run's output; reaching one ends the run with `output_limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OutputLimits {
    /// Total bytes of log text.
    pub max_log_bytes: u64,
    /// Total frames of every kind but the result.
    pub max_frames: u64,
    /// Number of files saved.
    pub max_files: u64,
    /// Bytes in any one file.
    pub max_file_bytes: u64,
    /// Bytes in all files together.
    pub max_total_file_bytes: u64,
    /// Bytes of the result value as JSON.
    pub max_result_bytes: u64,
}

impl Default for OutputLimits {
    fn default() -> Self {
        Self {
            max_log_bytes: 1024 * 1024,
            max_frames: 10_000,
            max_files: 16,
            max_file_bytes: 8 * 1024 * 1024,
            max_total_file_bytes: 32 * 1024 * 1024,
            max_result_bytes: 1024 * 1024,
        }
    }
}

/// Why a job was refused before anything ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// The job speaks another protocol version.
    #[error("unsupported job version {0} (expected {PROTOCOL_VERSION})")]
    Version(u32),
    /// The code is over [`MAX_CODE_BYTES`].
    #[error("code is {0} bytes, over the limit of {MAX_CODE_BYTES}")]
    CodeTooLarge(usize),
    /// The filename has path parts or control characters.
    #[error("filename {0:?} is not a plain file name")]
    Filename(String),
    /// The timeout is out of range.
    #[error("timeout_ms {0} is out of range ({lo}..={hi})", lo = TIMEOUT_MS_RANGE.0, hi = TIMEOUT_MS_RANGE.1)]
    Timeout(u64),
    /// The memory limit is out of range.
    #[error("memory_mb {0} is out of range ({lo}..={hi})", lo = MEMORY_MB_RANGE.0, hi = MEMORY_MB_RANGE.1)]
    Memory(u64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_job_gets_defaults() {
        let job: Job = serde_json::from_str(r#"{"v":1,"code":"1"}"#).unwrap();
        assert_eq!(job, Job::new("1"));
        job.validate().unwrap();
    }

    #[test]
    fn unknown_fields_are_ignored_and_bad_values_refused() {
        let job: Job = serde_json::from_str(r#"{"v":1,"code":"","env":{"HOME":"/root"}}"#).unwrap();
        assert_eq!(job, Job::new(""), "an unknown field changes nothing");
        // ...except at the sandbox boundary, where the runner reads strictly.
        let strict = Job::from_slice_strict(br#"{"v":1,"code":"","env":{}}"#).unwrap_err();
        assert!(strict.contains("`env`"), "{strict}");
        let strict = Job::from_slice_strict(br#"{"v":1,"code":"","limits":{"sneaky":1}}"#);
        assert!(strict.unwrap_err().contains("`limits.sneaky`"));
        assert_eq!(
            Job::from_slice_strict(br#"{"v":1,"code":"1"}"#).unwrap(),
            Job::new("1")
        );
        let mut job = Job::new("");
        job.v = 2;
        assert_eq!(job.validate(), Err(JobError::Version(2)));
        let mut job = Job::new("");
        job.filename = "../x.js".into();
        assert!(matches!(job.validate(), Err(JobError::Filename(_))));
        let mut job = Job::new("");
        job.timeout_ms = 0;
        assert_eq!(job.validate(), Err(JobError::Timeout(0)));
        let mut job = Job::new("");
        job.memory_mb = 1 << 20;
        assert!(matches!(job.validate(), Err(JobError::Memory(_))));
        let job = Job::new("x".repeat(MAX_CODE_BYTES + 1));
        assert!(matches!(job.validate(), Err(JobError::CodeTooLarge(_))));
    }

    #[test]
    fn file_names_become_one_url_segment() {
        assert_eq!(filename_url_segment("a-b_c.~png"), "a-b_c.~png");
        assert_eq!(
            filename_url_segment("report #1?x=%41 é.txt"),
            "report%20%231%3Fx%3D%2541%20%C3%A9.txt"
        );
    }

    #[test]
    fn filenames_with_path_parts_are_not_plain() {
        for bad in [
            "",
            ".",
            "..",
            "..hidden",
            "a/b",
            "a\\b",
            "a\nb",
            "\0",
            &"x".repeat(256),
        ] {
            assert!(!valid_filename(bad), "{bad:?}");
        }
        for good in ["main.js", "report.png", "a.b.c", "a b.txt", "日本.txt"] {
            assert!(valid_filename(good), "{good:?}");
        }
    }
}
