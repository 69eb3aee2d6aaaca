//! The host calls behind the prelude: the only Rust the script can reach.
//!
//! Each takes plain values (strings, numbers, byte arrays, one callback) and
//! returns plain values; none hands the script a Rust object, a path or a
//! handle. They are passed to the prelude in one object that the prelude keeps
//! in its closure, never on `globalThis`.

use std::cell::{OnceCell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use moat_wire::LogLevel;
use rquickjs::function::Opt;
use rquickjs::{Ctx, Exception, Function, Object, Persistent, Result, TypedArray, Value};

use super::calls::{self, PendingCalls};
use super::timers::{self, Timers};
use crate::browser::{Browser, BrowserConfig, BrowserError};
use crate::crypto;
use crate::hostcall::HostChannel;
use crate::output::{FileRefused, Output};

/// State the host calls share with the event loop.
pub struct Shared {
    /// Logs and files, under the caps (bound when the job arrives).
    pub output: OnceCell<Arc<Output>>,
    /// Pending timers.
    pub timers: RefCell<Timers>,
    /// The channel to the host (`fetch`; bound when the job arrives).
    pub channel: OnceCell<Arc<HostChannel>>,
    /// Calls waiting for their replies.
    pub pending: RefCell<PendingCalls>,
    /// Whether the run may have a browser, and where (bound with the output).
    pub browser_config: OnceCell<BrowserConfig>,
    /// The run's browser, once `moat:browser` launched it.
    pub browser: RefCell<Option<Browser>>,
    /// A browser started before the job, for the first launch to take.
    pub early_browser: RefCell<Option<Browser>>,
    /// The module's function that takes each message from the browser.
    pub on_browser: RefCell<Option<Persistent<Function<'static>>>>,
}

impl Shared {
    /// The run's output. The prelude is installed before the job binds it
    /// and calls no host function while it installs, so no script can reach
    /// this unbound.
    pub fn output(&self) -> &Arc<Output> {
        self.output
            .get()
            .expect("the job binds the output before any script runs")
    }

    /// The run's channel to its host (bound with the output).
    pub fn channel(&self) -> &Arc<HostChannel> {
        self.channel
            .get()
            .expect("the job binds the channel before any script runs")
    }

    /// Whether a browser is running: its messages may arrive at any time.
    pub fn browsing(&self) -> bool {
        self.browser.borrow().is_some()
    }

    /// The running browser's generation: only its messages are delivered.
    pub fn browser_generation(&self) -> Option<u64> {
        self.browser.borrow().as_ref().map(Browser::generation)
    }

    /// Ends the browser, if one runs, and drops the module's handler.
    pub fn close_browser(&self) {
        self.browser.borrow_mut().take();
        self.early_browser.borrow_mut().take();
        self.on_browser.borrow_mut().take();
    }

    fn launch_browser(&self) -> std::result::Result<(), BrowserError> {
        let config = self.browser_config.get().cloned().unwrap_or_default();
        if !config.allowed {
            return Err(BrowserError::NotAllowed);
        }
        let executable = config.executable.ok_or(BrowserError::NotInstalled)?;
        if self.browsing() {
            return Err(BrowserError::AlreadyRunning);
        }
        // A warm sandbox's Chromium, started while the runner waited for its
        // job: the same fresh browser a launch now would make, sooner. It
        // can be taken once; a second launch starts a new one. One that died
        // while it waited is replaced now (its last words are dropped as
        // another generation's).
        let early = self.early_browser.borrow_mut().take();
        if let Some(early) = early.filter(|b| !b.is_gone()) {
            *self.browser.borrow_mut() = Some(early);
            return Ok(());
        }
        let sink = self
            .channel()
            .browser_sink()
            .ok_or_else(|| BrowserError::Spawn("the run's event queue is closed".into()))?;
        *self.browser.borrow_mut() = Some(Browser::launch(&executable, sink)?);
        Ok(())
    }
}

/// Copies a typed array's bytes out of the engine.
#[allow(unsafe_code)]
pub(super) fn copy_bytes(array: &TypedArray<'_, u8>) -> Option<Vec<u8>> {
    // SAFETY: the slice is copied at once; no JavaScript runs while it lives.
    unsafe { array.as_bytes() }.map(<[u8]>::to_vec)
}

/// The URL parts the prelude's `URL` class reads, in its order.
fn url_parts(url: &url::Url) -> Vec<String> {
    use url::quirks as q;
    vec![
        q::href(url).to_owned(),
        q::origin(url),
        q::protocol(url).to_owned(),
        q::username(url).to_owned(),
        q::password(url).to_owned(),
        q::host(url).to_owned(),
        q::hostname(url).to_owned(),
        q::port(url).to_owned(),
        q::pathname(url).to_owned(),
        q::search(url).to_owned(),
        q::hash(url).to_owned(),
    ]
}

/// Parses a URL the WHATWG way; `None` when it (or its base) is invalid.
fn url_parse(input: &str, base: Option<&str>) -> Option<url::Url> {
    match base {
        Some(base) => url::Url::parse(base).ok()?.join(input).ok(),
        None => url::Url::parse(input).ok(),
    }
}

/// Applies one URL setter; invalid values leave the URL as it was, as the
/// standard's setters do.
fn url_set(href: &str, part: &str, value: &str) -> Option<url::Url> {
    use url::quirks as q;
    let mut url = url::Url::parse(href).ok()?;
    let _ = match part {
        "href" => q::set_href(&mut url, value).map_err(|_| ()),
        "protocol" => q::set_protocol(&mut url, value),
        "username" => q::set_username(&mut url, value),
        "password" => q::set_password(&mut url, value),
        "host" => q::set_host(&mut url, value),
        "hostname" => q::set_hostname(&mut url, value),
        "port" => q::set_port(&mut url, value),
        "pathname" => {
            q::set_pathname(&mut url, value);
            Ok(())
        }
        "search" => {
            q::set_search(&mut url, value);
            Ok(())
        }
        "hash" => {
            q::set_hash(&mut url, value);
            Ok(())
        }
        _ => Err(()),
    };
    Some(url)
}

/// A list of strings for the prelude: a prototype-less object with indices
/// and `length`. An array would be filled by plain property sets, which run
/// any setter a script has planted on `Array.prototype[0]`.
fn list<'js>(ctx: &Ctx<'js>, items: Vec<String>) -> Result<Object<'js>> {
    let obj = Object::new(ctx.clone())?;
    obj.set_prototype(None)?;
    let len = items.len();
    for (i, item) in items.into_iter().enumerate() {
        obj.set(i as u32, item)?;
    }
    obj.set("length", len as u32)?;
    Ok(obj)
}

fn level(name: &str) -> LogLevel {
    match name {
        "debug" => LogLevel::Debug,
        "warn" => LogLevel::Warn,
        "error" => LogLevel::Error,
        _ => LogLevel::Info,
    }
}

/// Builds the object of host calls handed to the prelude.
pub fn host_object<'js>(ctx: &Ctx<'js>, shared: &Rc<Shared>) -> Result<Object<'js>> {
    let host = Object::new(ctx.clone())?;

    let s = shared.clone();
    host.set(
        "log",
        Function::new(ctx.clone(), move |lvl: String, msg: String| {
            s.output().log(level(&lvl), msg)
        })?,
    )?;

    let s = shared.clone();
    host.set(
        "saveFile",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, name: String, data: TypedArray<'js, u8>, media: String| {
                let Some(bytes) = copy_bytes(&data) else {
                    return Err(Exception::throw_type(&ctx, "the file data is detached"));
                };
                s.output().file(&name, &media, &bytes).map_err(|e| match e {
                    FileRefused::Limit(_) => Exception::throw_range(&ctx, &e.to_string()),
                    _ => Exception::throw_type(&ctx, &e.to_string()),
                })
            },
        )?,
    )?;

    host.set(
        "utf8Encode",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, s: String| {
            TypedArray::<u8>::new(ctx, s.into_bytes())
        })?,
    )?;

    host.set(
        "utf8Decode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, data: TypedArray<'js, u8>, fatal: bool, ignore_bom: bool| {
                let Some(bytes) = copy_bytes(&data) else {
                    return Err(Exception::throw_type(&ctx, "the input is detached"));
                };
                let body = match bytes.strip_prefix(b"\xEF\xBB\xBF") {
                    Some(rest) if !ignore_bom => rest,
                    _ => &bytes[..],
                };
                if fatal {
                    std::str::from_utf8(body).map(str::to_owned).map_err(|_| {
                        Exception::throw_type(&ctx, "The encoded data was not valid utf-8")
                    })
                } else {
                    Ok(String::from_utf8_lossy(body).into_owned())
                }
            },
        )?,
    )?;

    host.set(
        "urlParse",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, input: String, base: Opt<Value<'js>>| {
                let base = base
                    .0
                    .and_then(|b| b.as_string().and_then(|s| s.to_string().ok()));
                url_parse(&input, base.as_deref())
                    .map(|u| list(&ctx, url_parts(&u)))
                    .transpose()
            },
        )?,
    )?;

    host.set(
        "urlSet",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, href: String, part: String, value: String| {
                let url = url_set(&href, &part, &value)
                    .ok_or_else(|| Exception::throw_type(&ctx, "Invalid URL"))?;
                list(&ctx, url_parts(&url))
            },
        )?,
    )?;

    host.set(
        "formParse",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, s: String| {
            let flat = url::form_urlencoded::parse(s.as_bytes())
                .flat_map(|(k, v)| [k.into_owned(), v.into_owned()])
                .collect::<Vec<String>>();
            list(&ctx, flat)
        })?,
    )?;

    host.set(
        "formSerialize",
        Function::new(ctx.clone(), |flat: Vec<String>| {
            let mut out = url::form_urlencoded::Serializer::new(String::new());
            for pair in flat.chunks_exact(2) {
                out.append_pair(&pair[0], &pair[1]);
            }
            out.finish()
        })?,
    )?;

    let s = shared.clone();
    host.set(
        "setTimer",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  callback: Function<'js>,
                  ms: f64,
                  repeat: bool,
                  unref: Opt<bool>| {
                let callback = Persistent::save(&ctx, callback);
                let keep_alive = !unref.0.unwrap_or(false);
                s.timers
                    .borrow_mut()
                    .add(
                        callback,
                        timers::delay(ms),
                        repeat,
                        keep_alive,
                        Instant::now(),
                    )
                    .ok_or_else(|| {
                        Exception::throw_range(
                            &ctx,
                            &format!(
                                "too many pending timers (the limit is {})",
                                timers::MAX_PENDING
                            ),
                        )
                    })
            },
        )?,
    )?;

    let s = shared.clone();
    host.set(
        "clearTimer",
        Function::new(ctx.clone(), move |id: f64| {
            if id.fract() == 0.0 && (1.0..=f64::from(u32::MAX)).contains(&id) {
                s.timers.borrow_mut().clear(id as u32);
            }
        })?,
    )?;

    host.set(
        "randomBytes",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, n: f64| {
            if !(0.0..=crypto::MAX_RANDOM_BYTES as f64).contains(&n) || n.fract() != 0.0 {
                return Err(Exception::throw_range(
                    &ctx,
                    &format!(
                        "getRandomValues takes at most {} bytes",
                        crypto::MAX_RANDOM_BYTES
                    ),
                ));
            }
            let bytes = crypto::random(n as usize).ok_or_else(|| {
                Exception::throw_internal(&ctx, "the OS has no randomness to give")
            })?;
            TypedArray::<u8>::new(ctx, bytes)
        })?,
    )?;

    host.set(
        "digest",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, name: String, data: TypedArray<'js, u8>| {
                let hash = crypto::Hash::named(&name).ok_or_else(|| {
                    Exception::throw_type(&ctx, &format!("unsupported hash {name:?}"))
                })?;
                let bytes = copy_bytes(&data)
                    .ok_or_else(|| Exception::throw_type(&ctx, "the data is detached"))?;
                TypedArray::<u8>::new(ctx, crypto::digest(hash, &bytes))
            },
        )?,
    )?;

    host.set(
        "hmac",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             name: String,
             key: TypedArray<'js, u8>,
             data: TypedArray<'js, u8>,
             signature: Opt<TypedArray<'js, u8>>| {
                let hash = crypto::Hash::named(&name).ok_or_else(|| {
                    Exception::throw_type(&ctx, &format!("unsupported hash {name:?}"))
                })?;
                let detached = || Exception::throw_type(&ctx, "the data is detached");
                let key = copy_bytes(&key).ok_or_else(detached)?;
                let data = copy_bytes(&data).ok_or_else(detached)?;
                match signature.0 {
                    Some(sig) => {
                        let sig = copy_bytes(&sig).ok_or_else(detached)?;
                        let ok = crypto::hmac_verify(hash, &key, &sig, &data);
                        TypedArray::<u8>::new(ctx.clone(), vec![u8::from(ok)])
                    }
                    None => TypedArray::<u8>::new(ctx.clone(), crypto::hmac(hash, &key, &data)),
                }
            },
        )?,
    )?;

    let s = shared.clone();
    host.set(
        "call",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  op: String,
                  args: String,
                  body: Opt<Value<'js>>,
                  resolve: Function<'js>,
                  reject: Function<'js>| {
                calls::call(
                    &ctx,
                    s.channel(),
                    &s.pending,
                    (op, args, body, resolve, reject),
                )
            },
        )?,
    )?;

    let s = shared.clone();
    host.set(
        "cancel",
        Function::new(ctx.clone(), move |id: f64| {
            calls::cancel(s.channel(), &s.pending, id)
        })?,
    )?;

    let s = shared.clone();
    host.set(
        "browserLaunch",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, on_message: Function<'js>| {
                s.launch_browser()
                    .map_err(|e| Exception::throw_message(&ctx, &e.to_string()))?;
                *s.on_browser.borrow_mut() = Some(Persistent::save(&ctx, on_message));
                Ok::<_, rquickjs::Error>(())
            },
        )?,
    )?;

    let s = shared.clone();
    host.set(
        "browserSend",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, command: String| {
            let browser = s.browser.borrow();
            let sent = match browser.as_ref() {
                Some(b) => b.send(&command),
                None => Err(BrowserError::Closed("it was closed".into())),
            };
            sent.map_err(|e| Exception::throw_message(&ctx, &e.to_string()))
        })?,
    )?;

    let s = shared.clone();
    host.set(
        "browserClose",
        Function::new(ctx.clone(), move || s.close_browser())?,
    )?;

    host.set(
        "base64Encode",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, data: TypedArray<'js, u8>| {
            use base64::Engine as _;
            let bytes = copy_bytes(&data)
                .ok_or_else(|| Exception::throw_type(&ctx, "the data is detached"))?;
            Ok::<_, rquickjs::Error>(base64::engine::general_purpose::STANDARD.encode(bytes))
        })?,
    )?;

    host.set(
        "base64Decode",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, text: String| {
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| Exception::throw_type(&ctx, "not base64"))?;
            TypedArray::<u8>::new(ctx.clone(), bytes)
        })?,
    )?;

    host.set(
        "proxyTarget",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, v: Value<'js>| -> Value<'js> {
            match v.as_proxy() {
                Some(p) => match p.target() {
                    Ok(t) => t.into_value(),
                    Err(_) => {
                        let _ = ctx.catch();
                        Value::new_null(ctx)
                    }
                },
                None => Value::new_undefined(ctx),
            }
        })?,
    )?;

    Ok(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_set_like_browsers() {
        let u = url_parse("/a/../b?x=1#h", Some("https://user:pw@example.com:8443/z")).unwrap();
        let parts = url_parts(&u);
        assert_eq!(parts[0], "https://user:pw@example.com:8443/b?x=1#h");
        assert_eq!(parts[1], "https://example.com:8443");
        assert_eq!(parts[7], "8443");
        assert!(url_parse("not a url", None).is_none());
        assert!(url_parse("x", Some("also not")).is_none());
        let set = url_set("https://example.com/", "port", "80").unwrap();
        assert_eq!(
            set.as_str(),
            "http://example.com:80/".replace("http:", "https:")
        );
        let unchanged = url_set("https://example.com/", "port", "nope").unwrap();
        assert_eq!(unchanged.as_str(), "https://example.com/");
    }
}
