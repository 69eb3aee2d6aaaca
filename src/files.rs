//! Writing a run's files onto the user's disk (`--out`). The names come
//! from a hostile script, so they are checked again here, hidden names
//! (`.bashrc`, `.git`) are refused, and a file is written beside its place
//! and renamed over it: an existing symlink is replaced, never followed.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a file was not written.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// The name has path parts, or is hidden.
    #[error("refusing to write a file named {0:?} (path parts or a hidden name)")]
    Name(String),
    /// Writing failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Writes `bytes` as `dir/name`; returns the path.
pub fn save(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, SaveError> {
    if !moat_wire::job::valid_filename(name) || name.starts_with('.') {
        return Err(SaveError::Name(name.to_owned()));
    }
    let path = dir.join(name);
    let temp = dir.join(format!(".{name}.moat-{}", std::process::id()));
    let io = |source| SaveError::Io {
        path: path.clone(),
        source,
    };
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .and_then(|mut f| f.write_all(bytes));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(io(e));
    }
    std::fs::rename(&temp, &path).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        io(e)
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_links_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["../evil", ".bashrc", "a/b", ""] {
            assert!(
                matches!(save(dir.path(), bad, b"x"), Err(SaveError::Name(_))),
                "{bad:?}"
            );
        }
        let target = dir.path().join("precious");
        std::fs::write(&target, "keep me").unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("out.txt")).unwrap();
        let path = save(dir.path(), "out.txt", b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
        // Saving again replaces the file.
        save(dir.path(), "out.txt", b"newer").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"newer");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
