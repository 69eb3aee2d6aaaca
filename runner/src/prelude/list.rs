// The prelude's files, in the order they are joined: one list, read both by
// `mod.rs` (which embeds their text) and by the runner's build script (which
// compiles the joined prelude to QuickJS bytecode), each with its own
// `prelude!` macro.
prelude!(
    "primordials.js",
    "inspect.js",
    "console.js",
    "timers.js",
    "encoding.js",
    "url.js",
    "structured_clone.js",
    "abort.js",
    "headers.js",
    "fetch.js",
    "crypto.js",
    "files.js",
    "browser.js",
    "browser_input.js",
    "browser_network.js",
    "browser_page.js",
    "browser_launch.js",
    "exports.js",
);
