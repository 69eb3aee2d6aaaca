//! The module map: which imports a script may make, and where they come from.
//!
//! An import resolves only to a built-in `moat:*` module or to a bare specifier
//! the operator listed in a whitelist directory's `modules.json`
//! (`{"specifier": "relative/path/to/entry.js"}`). A relative import is allowed
//! only from inside a whitelisted module, and only to a file under that
//! module's own directory (the directory of its entry file): `..` cannot climb
//! out, and symbolic links are resolved before the check. Everything else,
//! static or dynamic, is refused. This module decides; it does not run code.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

/// Built-in modules, served by the runner itself.
pub const BUILTINS: &[&str] = &["moat:files", "moat:browser"];

/// Bare names that are served by a built-in, so scripts written for Node
/// port unchanged (`import puppeteer from 'puppeteer'`): the contract of
/// `moat_wire::browser::SPECIFIERS`.
const ALIASES: &[(&str, &str)] = &[
    ("puppeteer", "moat:browser"),
    ("puppeteer-core", "moat:browser"),
];

/// Largest module file the runner reads.
const MAX_MODULE_BYTES: u64 = 8 * 1024 * 1024;

/// Why a whitelist directory cannot be used; the runner refuses to start.
#[derive(Debug, thiserror::Error)]
pub enum WhitelistError {
    /// `modules.json` is missing or unreadable.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `modules.json` is not a JSON object of strings.
    #[error("{path} is not a JSON object of specifier to file: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// An entry is not a file under the whitelist directory.
    #[error("module {specifier:?} points at {target:?}, which is not a file inside the whitelist directory")]
    Entry {
        /// The specifier.
        specifier: String,
        /// Where it points.
        target: String,
    },
    /// A specifier that could be mistaken for a path or a built-in.
    #[error("specifier {0:?} must be a bare name (not relative, absolute, a URL or moat:*)")]
    Specifier(String),
}

/// Where a resolved module comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A built-in `moat:*` module.
    Builtin(&'static str),
    /// A whitelisted file, with the directory its relative imports stay in.
    File {
        /// The file, canonical.
        path: PathBuf,
        /// The module's own directory, canonical.
        root: PathBuf,
    },
}

/// An import that is not allowed; `specifier` is what the script wrote.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("import of {specifier:?} is not allowed: {reason}")]
pub struct NotAllowed {
    /// The refused specifier.
    pub specifier: String,
    /// Why, for the user.
    pub reason: &'static str,
}

/// The operator's whitelist plus the modules resolved so far.
#[derive(Debug, Default)]
pub struct ModuleMap {
    /// The whitelist directory, canonical; module names are shown relative to it.
    base: PathBuf,
    /// specifier → (entry file, root), canonical.
    entries: HashMap<String, (PathBuf, PathBuf)>,
    /// resolved name → source, for the loader and for relative imports.
    resolved: HashMap<String, Source>,
}

impl ModuleMap {
    /// A map with only the built-ins.
    pub fn builtins_only() -> Self {
        Self::default()
    }

    /// Reads `dir/modules.json`; every entry must be a file inside `dir`.
    pub fn load(dir: &Path) -> Result<Self, WhitelistError> {
        let path = dir.join("modules.json");
        let text = std::fs::read_to_string(&path).map_err(|source| WhitelistError::Read {
            path: path.clone(),
            source,
        })?;
        let map: HashMap<String, String> =
            serde_json::from_str(&text).map_err(|source| WhitelistError::Parse { path, source })?;
        let base = dir.canonicalize().map_err(|source| WhitelistError::Read {
            path: dir.to_owned(),
            source,
        })?;
        let mut entries = HashMap::new();
        for (specifier, target) in map {
            if !is_bare(&specifier) {
                return Err(WhitelistError::Specifier(specifier));
            }
            let bad = || WhitelistError::Entry {
                specifier: specifier.clone(),
                target: target.clone(),
            };
            let file = base.join(&target).canonicalize().map_err(|_| bad())?;
            if !file.starts_with(&base) || !file.is_file() {
                return Err(bad());
            }
            let root = file.parent().ok_or_else(bad)?.to_owned();
            entries.insert(specifier, (file, root));
        }
        Ok(Self {
            base,
            entries,
            resolved: HashMap::new(),
        })
    }

    /// The whitelisted specifiers, sorted.
    pub fn specifiers(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.entries.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// Resolves `specifier` imported from the module named `base` to a module
    /// name the loader will accept, or refuses it.
    pub fn resolve(&mut self, base: &str, specifier: &str) -> Result<String, NotAllowed> {
        let refuse = |reason| NotAllowed {
            specifier: specifier.to_owned(),
            reason,
        };
        let aliased = ALIASES
            .iter()
            .find(|(alias, _)| *alias == specifier)
            .map_or(specifier, |(_, builtin)| *builtin);
        if let Some(builtin) = BUILTINS.iter().find(|b| **b == aliased) {
            self.resolved
                .insert((*builtin).to_owned(), Source::Builtin(builtin));
            return Ok((*builtin).to_owned());
        }
        if specifier.starts_with("./") || specifier.starts_with("../") {
            let Some(Source::File { path, root }) = self.resolved.get(base) else {
                return Err(refuse(
                    "relative imports are allowed only inside whitelisted modules",
                ));
            };
            let root = root.clone();
            let dir = path.parent().unwrap_or(&root);
            let joined = normalize(&dir.join(specifier))
                .ok_or_else(|| refuse("it leaves the module's directory"))?;
            if !joined.starts_with(&root) {
                return Err(refuse("it leaves the module's directory"));
            }
            let file = joined
                .canonicalize()
                .map_err(|_| refuse("no such file in the module"))?;
            if !file.starts_with(&root) || !file.is_file() {
                return Err(refuse("it leaves the module's directory"));
            }
            return Ok(self.remember(file, root));
        }
        if !is_bare(specifier) {
            return Err(refuse(
                "only whitelisted packages and moat:* modules can be imported",
            ));
        }
        match self.entries.get(specifier) {
            Some((file, root)) => Ok(self.remember(file.clone(), root.clone())),
            None => Err(refuse("it is not in the module whitelist")),
        }
    }

    /// Names a file module by its path under the whitelist directory, so stack
    /// traces show no host paths; the `/` keeps it apart from the script's own
    /// name, which is a plain file name.
    fn remember(&mut self, path: PathBuf, root: PathBuf) -> String {
        let rel = path.strip_prefix(&self.base).unwrap_or(&path);
        let name = format!("modules/{}", rel.to_string_lossy());
        self.resolved
            .insert(name.clone(), Source::File { path, root });
        name
    }

    /// Where a name returned by [`ModuleMap::resolve`] comes from.
    pub fn source(&self, name: &str) -> Option<&Source> {
        self.resolved.get(name)
    }

    /// Reads a resolved file module's source, capped in size.
    pub fn read(&self, name: &str) -> std::io::Result<String> {
        let Some(Source::File { path, .. }) = self.resolved.get(name) else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "not a resolved file module",
            ));
        };
        if std::fs::metadata(path)?.len() > MAX_MODULE_BYTES {
            return Err(std::io::Error::other("module file too large"));
        }
        std::fs::read_to_string(path)
    }
}

/// A package-style name: no scheme, no path prefix, no backslash or NUL.
fn is_bare(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && !s.starts_with('/')
        && !s.contains(':')
        && !s.contains('\\')
        && !s.chars().any(char::is_control)
        && !s
            .split('/')
            .any(|part| part == ".." || part == "." || part.is_empty())
}

/// Lexical normalisation of an absolute path; `None` if `..` climbs past `/`.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::RootDir => out.push("/"),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(p) => out.push(p),
            Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// whitelist/ with lib "pkg" at pkg/index.js (+ pkg/util/helper.js),
    /// a secret beside it, and a symlink inside pkg pointing out.
    fn fixture() -> (tempfile::TempDir, ModuleMap) {
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path().join("whitelist");
        fs::create_dir_all(w.join("pkg/util")).unwrap();
        fs::write(w.join("pkg/index.js"), "export {}").unwrap();
        fs::write(w.join("pkg/util/helper.js"), "export {}").unwrap();
        fs::write(w.join("secret.js"), "export {}").unwrap();
        fs::write(dir.path().join("outside.js"), "export {}").unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside.js"), w.join("pkg/link.js")).unwrap();
        fs::write(w.join("modules.json"), r#"{"pkg": "pkg/index.js"}"#).unwrap();
        let map = ModuleMap::load(&w).unwrap();
        (dir, map)
    }

    #[test]
    fn builtins_and_whitelisted_names_resolve() {
        let (_d, mut map) = fixture();
        assert_eq!(map.resolve("main.js", "moat:files").unwrap(), "moat:files");
        let pkg = map.resolve("main.js", "pkg").unwrap();
        assert!(pkg.ends_with("pkg/index.js"));
        let helper = map.resolve(&pkg, "./util/helper.js").unwrap();
        assert!(helper.ends_with("pkg/util/helper.js"));
        // From the helper, `../index.js` is still inside the package.
        assert_eq!(map.resolve(&helper, "../index.js").unwrap(), pkg);
        assert!(map.read(&helper).unwrap().contains("export"));
        assert_eq!(map.specifiers(), vec!["pkg"]);
    }

    #[test]
    fn everything_else_is_refused() {
        let (_d, mut map) = fixture();
        for spec in [
            "fs",
            "os",
            "node:fs",
            "moat:shell",
            "./x.js",
            "../../etc/passwd",
            "/etc/passwd",
            "http://example.com/x.js",
            "pkg/../secret.js",
            "pkg\\index.js",
            "",
        ] {
            let err = map.resolve("main.js", spec).unwrap_err();
            assert_eq!(err.specifier, spec);
        }
        let pkg = map.resolve("main.js", "pkg").unwrap();
        for spec in [
            "../secret.js",
            "../../outside.js",
            "./link.js",
            "./missing.js",
        ] {
            assert!(map.resolve(&pkg, spec).is_err(), "{spec}");
        }
    }

    #[test]
    fn bad_whitelists_are_refused_at_start() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("modules.json"),
            r#"{"x": "../../etc/passwd"}"#,
        )
        .unwrap();
        assert!(matches!(
            ModuleMap::load(dir.path()),
            Err(WhitelistError::Entry { .. })
        ));
        fs::write(dir.path().join("modules.json"), r#"{"./x": "a.js"}"#).unwrap();
        fs::write(dir.path().join("a.js"), "").unwrap();
        assert!(matches!(
            ModuleMap::load(dir.path()),
            Err(WhitelistError::Specifier(_))
        ));
        fs::write(dir.path().join("modules.json"), "[]").unwrap();
        assert!(matches!(
            ModuleMap::load(dir.path()),
            Err(WhitelistError::Parse { .. })
        ));
    }
}
