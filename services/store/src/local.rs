//! [`LocalStore`]: the object store as a directory on this machine (the
//! default, `.run/files`). Every write goes to a temporary file, is flushed
//! and renamed into place, so a reader sees the old object or the new one,
//! never a part; several launchers on one node may share the directory. It
//! is not shared between machines: that is what [`crate::S3Store`] is for.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;

use crate::key::checked_key;
use crate::{checked_content_type, ObjectStore, StoreError, StoredObject, DEFAULT_CONTENT_TYPE};

/// A directory of files. Layout under the root:
///
/// - `objects/<key>`: the bytes, as put (an operator can open them directly);
/// - `types/<key>`: the content type;
/// - `tmp/`: files being written, renamed into place when complete.
///
/// Types live in their own tree rather than in a sidecar beside the object
/// (`<key>.type`) because a sidecar shares the objects' namespace: a script
/// saving `x.png.type` would set the type `x.png` is served with.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// Opens (creating if needed) the store rooted at `root`. Blocking.
    ///
    /// Leftovers in `tmp/` are not removed: several launchers on a node may
    /// share the directory, and one's temporary file may be another's write
    /// in progress.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let store = Self { root: root.into() };
        for dir in [store.objects(), store.types(), store.tmp()] {
            std::fs::create_dir_all(&dir).map_err(|source| StoreError::Io {
                op: "creating",
                path: dir,
                source,
            })?;
        }
        Ok(store)
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn objects(&self) -> PathBuf {
        self.root.join("objects")
    }

    fn types(&self) -> PathBuf {
        self.root.join("types")
    }

    fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn put_blocking(&self, key: &str, data: &[u8], content_type: &str) -> Result<(), StoreError> {
        // The type goes first and the object's rename commits: a reader that
        // finds the object finds its type too. (A crash between the two
        // leaves a type with no object, which no reader sees.)
        self.write_atomic(&self.types().join(key), content_type.as_bytes())?;
        self.write_atomic(&self.objects().join(key), data)
    }

    /// Writes `data` to a new file under `tmp/`, flushes it to disk, and
    /// renames it to `target`: the rename is atomic, so `target` holds the
    /// old bytes or the new ones, never a part.
    fn write_atomic(&self, target: &Path, data: &[u8]) -> Result<(), StoreError> {
        let io_err = |op, path: &Path| {
            let path = path.to_owned();
            move |source| StoreError::Io { op, path, source }
        };
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io_err("creating", parent))?;
        }
        let temp = self.tmp().join(uuid::Uuid::new_v4().to_string());
        let written = (|| {
            let mut file = std::fs::File::create_new(&temp)?;
            file.write_all(data)?;
            file.sync_all()
        })();
        let renamed = written
            .map_err(io_err("writing", &temp))
            .and_then(|()| std::fs::rename(&temp, target).map_err(io_err("renaming into", target)));
        if renamed.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        renamed
    }

    fn get_blocking(&self, key: &str) -> Result<Option<StoredObject>, StoreError> {
        let path = self.objects().join(key);
        let data = match std::fs::read(&path) {
            Ok(data) => data,
            // A key naming a directory (`a/b` when `a/b/c` exists) or passing
            // through a file (`a/b/c` when `a/b` is an object) is simply absent,
            // as it would be on S3.
            Err(e) if is_absent(&e) => return Ok(None),
            Err(source) => {
                return Err(StoreError::Io {
                    op: "reading",
                    path,
                    source,
                })
            }
        };
        let type_path = self.types().join(key);
        let content_type = match std::fs::read_to_string(&type_path) {
            Ok(t) => t,
            Err(e) if is_absent(&e) => DEFAULT_CONTENT_TYPE.to_owned(),
            Err(source) => {
                return Err(StoreError::Io {
                    op: "reading",
                    path: type_path,
                    source,
                })
            }
        };
        Ok(Some(StoredObject {
            data: data.into(),
            content_type,
        }))
    }
}

fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::IsADirectory | io::ErrorKind::NotADirectory
    )
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(StoreError::Io {
            op: "running",
            path: PathBuf::new(),
            source: io::Error::other(e),
        })
    })
}

impl ObjectStore for LocalStore {
    fn put<'a>(
        &'a self,
        key: &'a str,
        data: Bytes,
        content_type: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        async move {
            checked_key(key)?;
            checked_content_type(content_type)?;
            let (store, key, content_type) =
                (self.clone(), key.to_owned(), content_type.to_owned());
            blocking(move || store.put_blocking(&key, &data, &content_type)).await
        }
        .boxed()
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<StoredObject>, StoreError>> {
        async move {
            checked_key(key)?;
            let (store, key) = (self.clone(), key.to_owned());
            blocking(move || store.get_blocking(&key)).await
        }
        .boxed()
    }

    fn describe(&self) -> String {
        format!("local dir {}", self.root.display())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    fn local() -> (tempfile::TempDir, LocalStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path().join("files")).unwrap();
        (dir, store)
    }

    fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                found.extend(files_under(&path));
            } else {
                found.push(path);
            }
        }
        found
    }

    #[tokio::test]
    async fn objects_come_back_with_their_types() {
        let (_dir, store) = local();
        let binary: Vec<u8> = PNG.iter().copied().chain(0..=255).collect();
        store
            .put("run/1/shot.png", binary.clone().into(), "image/png")
            .await
            .unwrap();
        store
            .put(
                "run/1/notes.txt",
                Bytes::from_static(b"hello\n"),
                "text/plain; charset=utf-8",
            )
            .await
            .unwrap();

        let png = store.get("run/1/shot.png").await.unwrap().unwrap();
        assert_eq!(png.data, binary);
        assert_eq!(png.content_type, "image/png");
        let text = store.get("run/1/notes.txt").await.unwrap().unwrap();
        assert_eq!(text.data, &b"hello\n"[..]);
        assert_eq!(text.content_type, "text/plain; charset=utf-8");

        // The object on disk is the file itself, openable by an operator.
        let on_disk = std::fs::read(store.root().join("objects/run/1/shot.png")).unwrap();
        assert_eq!(on_disk, binary);
        // Nothing is left behind in tmp/.
        assert!(files_under(&store.root().join("tmp")).is_empty());
    }

    #[tokio::test]
    async fn an_empty_object_is_still_an_object() {
        let (_dir, store) = local();
        store
            .put("run/1/empty", Bytes::new(), "text/plain")
            .await
            .unwrap();
        let got = store.get("run/1/empty").await.unwrap().unwrap();
        assert!(got.data.is_empty());
        assert_eq!(got.content_type, "text/plain");
    }

    #[tokio::test]
    async fn missing_keys_are_none() {
        let (_dir, store) = local();
        assert_eq!(store.get("run/1/nothing.png").await.unwrap(), None);
        store
            .put("run/1/a", Bytes::from_static(b"a"), "text/plain")
            .await
            .unwrap();
        // A prefix of a key (a directory here) and a path through an object
        // (a file here) are both absent, as on S3.
        assert_eq!(store.get("run/1").await.unwrap(), None);
        assert_eq!(store.get("run/1/a/b").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_put_replaces_object_and_type() {
        let (_dir, store) = local();
        store
            .put("run/1/out", Bytes::from_static(b"{}"), "application/json")
            .await
            .unwrap();
        store
            .put("run/1/out", Bytes::from_static(PNG), "image/png")
            .await
            .unwrap();
        let got = store.get("run/1/out").await.unwrap().unwrap();
        assert_eq!(got.data, PNG);
        assert_eq!(got.content_type, "image/png");
    }

    #[tokio::test]
    async fn a_type_shaped_name_cannot_set_another_objects_type() {
        let (_dir, store) = local();
        store
            .put("run/1/x.png", Bytes::from_static(PNG), "image/png")
            .await
            .unwrap();
        store
            .put(
                "run/1/x.png.type",
                Bytes::from_static(b"text/html"),
                "text/plain",
            )
            .await
            .unwrap();
        let got = store.get("run/1/x.png").await.unwrap().unwrap();
        assert_eq!(got.content_type, "image/png");
    }

    #[tokio::test]
    async fn bad_keys_touch_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path().join("files")).unwrap();
        for key in [
            "../escaped",
            "/tmp/escaped",
            "run/../../escaped",
            "run\\..\\escaped",
        ] {
            let err = store
                .put(key, Bytes::from_static(b"x"), "text/plain")
                .await
                .unwrap_err();
            assert!(matches!(err, StoreError::BadKey { .. }), "{key:?}: {err}");
            assert!(err.is_bad_request());
            let err = store.get(key).await.unwrap_err();
            assert!(matches!(err, StoreError::BadKey { .. }), "{key:?}: {err}");
        }
        assert!(files_under(dir.path()).is_empty());
        assert!(!Path::new("/tmp/escaped").exists());
    }

    #[tokio::test]
    async fn a_bad_content_type_is_refused() {
        let (_dir, store) = local();
        let err = store
            .put(
                "run/1/x",
                Bytes::from_static(b"x"),
                "text/html\r\nSet-Cookie: a=b",
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::BadContentType(_)), "{err}");
        assert_eq!(store.get("run/1/x").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_key_through_an_object_is_an_error_not_a_clobber() {
        let (_dir, store) = local();
        store
            .put("run/1/a", Bytes::from_static(b"a"), "text/plain")
            .await
            .unwrap();
        let err = store
            .put("run/1/a/b", Bytes::from_static(b"b"), "text/plain")
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Io { .. }), "{err}");
        assert_eq!(store.get("run/1/a").await.unwrap().unwrap().data, &b"a"[..]);
        assert!(files_under(&store.root().join("tmp")).is_empty());
    }

    #[tokio::test]
    async fn concurrent_puts_all_land() {
        let (_dir, store) = local();
        let store = Arc::new(store);
        let puts = (0..32).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let key = format!("run/{}/f{i}.txt", i % 3);
                store
                    .put(&key, format!("file {i}").into(), "text/plain")
                    .await
                    .map(|()| (key, i))
            })
        });
        for put in futures::future::join_all(puts).await {
            let (key, i) = put.unwrap().unwrap();
            let got = store.get(&key).await.unwrap().unwrap();
            assert_eq!(got.data, format!("file {i}"));
        }
    }
}
