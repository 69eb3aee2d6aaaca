//! Host calls from QuickJS: `host.call` sends one through the run's
//! [`HostChannel`] and keeps the promise's resolve and reject functions until
//! the event loop brings its reply ([`deliver`]); `host.cancel` gives one up.
//!
//! What the script passes is checked here before it becomes a frame: the
//! operation must be known, its arguments must decode strictly, and a body
//! must be under the cap. A refusal rejects the promise (with a code the
//! prelude turns into the error's `cause.code`); it never throws into the
//! host or reaches the host channel.

use std::collections::HashMap;

use base64::Engine as _;
use moat_wire::hostcall::{FetchCall, HostCall, MAX_CALL_BODY_BYTES};
use rquickjs::function::Opt;
use rquickjs::{Ctx, Function, Persistent, Result, TypedArray, Value};

use super::host::copy_bytes;
use crate::hostcall::{Completed, HostChannel};

/// A call waiting for its reply: the promise's resolve and reject.
pub struct Pending {
    resolve: Persistent<Function<'static>>,
    reject: Persistent<Function<'static>>,
}

/// The calls of one run waiting for replies, by id.
#[derive(Default)]
pub struct PendingCalls(HashMap<u32, Pending>);

impl PendingCalls {
    /// Drops every handle (before the runtime goes).
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

/// The arguments of a `fetch` as the prelude sends them (the body apart).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FetchArgs {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    redirect: moat_wire::hostcall::RedirectMode,
    #[serde(default)]
    timeout_ms: Option<u64>,
}

/// Builds the call for `op` from the prelude's JSON and body, or says why not.
fn build(op: &str, args: &str, body: Option<Vec<u8>>) -> std::result::Result<HostCall, String> {
    match op {
        "fetch" => {
            let a: FetchArgs =
                serde_json::from_str(args).map_err(|e| format!("bad fetch arguments: {e}"))?;
            if body.as_ref().is_some_and(|b| b.len() > MAX_CALL_BODY_BYTES) {
                return Err(format!(
                    "the request body is over {MAX_CALL_BODY_BYTES} bytes"
                ));
            }
            Ok(HostCall::Fetch(FetchCall {
                method: a.method,
                url: a.url,
                headers: a.headers,
                body: body.map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
                redirect: a.redirect,
                timeout_ms: a.timeout_ms,
            }))
        }
        other => Err(format!("unknown host call {other:?}")),
    }
}

/// `host.call(op, argsJson, body, resolve, reject)`: sends the call and
/// returns its id, or rejects at once (returning 0) when it cannot be sent.
pub fn call<'js>(
    ctx: &Ctx<'js>,
    channel: &HostChannel,
    pending: &std::cell::RefCell<PendingCalls>,
    (op, args, body, resolve, reject): (
        String,
        String,
        Opt<Value<'js>>,
        Function<'js>,
        Function<'js>,
    ),
) -> Result<u32> {
    let body = match body.0.filter(|b| !b.is_undefined() && !b.is_null()) {
        None => None,
        Some(b) => match TypedArray::<u8>::from_value(b)
            .ok()
            .and_then(|a| copy_bytes(&a))
        {
            Some(bytes) => Some(bytes),
            None => {
                reject.call::<_, ()>(("EGRESS_DENIED", "the request body is detached"))?;
                return Ok(0);
            }
        },
    };
    let call = match build(&op, &args, body) {
        Ok(call) => call,
        Err(why) => {
            let code = if why.contains("over") {
                "EGRESS_LIMIT"
            } else {
                "ERR_INVALID_ARG_VALUE"
            };
            reject.call::<_, ()>((code, why))?;
            return Ok(0);
        }
    };
    match channel.call(call) {
        Ok(id) => {
            pending.borrow_mut().0.insert(
                id,
                Pending {
                    resolve: Persistent::save(ctx, resolve),
                    reject: Persistent::save(ctx, reject),
                },
            );
            Ok(id)
        }
        Err(refused) => {
            reject.call::<_, ()>((refused.code(), refused.to_string()))?;
            Ok(0)
        }
    }
}

/// `host.cancel(id)`: the call's reply, if it comes, is dropped.
pub fn cancel(channel: &HostChannel, pending: &std::cell::RefCell<PendingCalls>, id: f64) {
    if id.fract() == 0.0 && (1.0..=f64::from(u32::MAX)).contains(&id) {
        let id = id as u32;
        if pending.borrow_mut().0.remove(&id).is_some() {
            channel.cancel(id);
        }
    }
}

/// Settles the promise of an answered call: `resolve(headJson, bytes)` or
/// `reject(code, message)`. A call no longer pending (cancelled) is ignored.
pub fn deliver<'js>(
    ctx: &Ctx<'js>,
    pending: &std::cell::RefCell<PendingCalls>,
    done: Completed,
) -> Result<()> {
    let Some(p) = pending.borrow_mut().0.remove(&done.id) else {
        return Ok(());
    };
    match done.result {
        Ok((head, body)) => {
            let resolve = p.resolve.restore(ctx)?;
            // Serialising a response head cannot fail: strings and numbers only.
            let head = serde_json::to_string(&head).unwrap_or_else(|_| "{}".into());
            let body = TypedArray::<u8>::new(ctx.clone(), body)?;
            resolve.call::<_, ()>((head, body))
        }
        Err(error) => {
            let reject = p.reject.restore(ctx)?;
            reject.call::<_, ()>((error.code, error.message))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_built_strictly() {
        let args = r#"{"method":"POST","url":"http://127.0.0.1/","headers":[["a","b"]],"redirect":"manual"}"#;
        let HostCall::Fetch(f) = build("fetch", args, Some(b"hi".to_vec())).unwrap();
        assert_eq!(f.method, "POST");
        assert_eq!(f.body.as_deref(), Some("aGk="));
        assert!(build("exec", "{}", None)
            .unwrap_err()
            .contains("unknown host call"));
        assert!(build("fetch", r#"{"method":"GET"}"#, None).is_err());
        let extra = r#"{"method":"GET","url":"x","headers":[],"redirect":"follow","proxy":"y"}"#;
        assert!(build("fetch", extra, None).is_err());
        let big = vec![0; MAX_CALL_BODY_BYTES + 1];
        let args = r#"{"method":"POST","url":"x","headers":[],"redirect":"follow"}"#;
        assert!(build("fetch", args, Some(big))
            .unwrap_err()
            .contains("over"));
    }
}
