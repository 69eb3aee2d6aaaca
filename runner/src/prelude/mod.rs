//! The prelude: the web-style globals a script expects (console, timers,
//! TextEncoder/TextDecoder, URL/URLSearchParams, structuredClone, fetch with
//! Headers/Request/Response and AbortController) and the
//! `moat:files` `save` and `moat:browser` (Puppeteer's API), written in JS over a handful of narrow host calls
//! (`host.log`, `host.setTimer`, `host.urlParse`, `host.saveFile`, ...). It is
//! engine-neutral: any engine that evaluates [`SCRIPT`] and calls the function
//! it yields with those host calls gets the same globals (QuickJS's are in
//! `quickjs/host.rs`). It decides no limits and reaches nothing but `host`.
//!
//! [`SCRIPT`] is one function expression, `(function (host) { ... })`, split
//! into one file per global so each can be read on its own; the files are
//! fragments of that one closure (they share its captured built-ins and
//! helpers), joined at compile time in a fixed order:
//!
//! | file | what |
//! | --- | --- |
//! | `primordials.js` | opens the closure; built-ins captured before any user code, shared helpers |
//! | `inspect.js` | `inspect`: values as text, never running user code |
//! | `console.js` | `console` |
//! | `timers.js` | `setTimeout`, `setInterval`, `clearTimeout`, `clearInterval` |
//! | `encoding.js` | `TextEncoder`, `TextDecoder` |
//! | `url.js` | `URL`, `URLSearchParams` |
//! | `structured_clone.js` | `structuredClone` |
//! | `abort.js` | `AbortController`, `AbortSignal` (with `timeout` and `any`) |
//! | `headers.js` | `Headers` |
//! | `fetch.js` | `Request`, `Response`, `fetch` (a host call) |
//! | `crypto.js` | `crypto`: `getRandomValues`, `randomUUID`, `subtle` digest and HMAC |
//! | `files.js` | `save`, behind `moat:files` |
//! | `browser.js` | `moat:browser` (built on first import): the DevTools connection, handles |
//! | `browser_input.js` | its keyboard and mouse |
//! | `browser_network.js` | the browser's requests, answered through the host's `fetch` |
//! | `browser_page.js` | `Page` |
//! | `browser_launch.js` | `Browser`, `launch`; closes `moat:browser`'s builder |
//! | `exports.js` | `describeError`; returns what Rust keeps and closes the closure |
//!
//! The order is the script's: a file may use what an earlier one defines, and
//! error stacks name lines of the joined script.

/// Defines [`FILES`] and [`SCRIPT`] from one list, so the two cannot differ.
macro_rules! prelude {
    ($($file:literal),* $(,)?) => {
        /// The prelude's files and their text, in the order they are joined.
        pub const FILES: &[(&str, &str)] = &[$(($file, include_str!($file))),*];
        /// The whole prelude: [`FILES`] joined in order. Evaluating it yields
        /// `function (host)`, which installs the globals and returns
        /// `{ inspect, save, describeError }`.
        pub const SCRIPT: &str = concat!($(include_str!($file)),*);
    };
}

include!("list.rs");

/// [`SCRIPT`] compiled by the build script (`runner/build.rs`) into a QuickJS
/// module whose default export is the prelude's function.
pub const BYTECODE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/prelude.qjsbc"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_join_into_one_closure() {
        let joined: String = FILES.iter().map(|(_, text)| *text).collect();
        assert_eq!(joined, SCRIPT);
        assert!(SCRIPT.contains("\n(function (host) {\n"));
        assert!(SCRIPT.ends_with("\n})\n"));
        for (name, text) in FILES {
            // A file without its last newline would run its last line into
            // the next file's first.
            assert!(text.ends_with('\n'), "{name} must end with a newline");
        }
    }
}
