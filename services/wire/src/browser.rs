//! The browser contract: which imports give a run a browser, defined once for
//! the edge (which asks for the browser profile when a script imports one
//! statically) and the runner (which serves them all as `moat:browser`).

/// The specifiers of the browser module: the built-in and the npm names a
/// Puppeteer script already uses.
pub const SPECIFIERS: &[&str] = &["moat:browser", "puppeteer", "puppeteer-core"];

/// Whether `code` imports a browser module statically: `import x from
/// 'puppeteer'`, `import { launch } from "moat:browser"`, `import
/// 'puppeteer-core'`, or `export ... from` one of them. Comments and strings
/// elsewhere are not parsed, so a mention in a comment of the form `from
/// 'puppeteer'` also counts: a browser the script does not use costs only
/// the heavier sandbox. A dynamic `import()` does not count (submit with
/// `"browser": true` for that).
pub fn imports_browser(code: &str) -> bool {
    SPECIFIERS.iter().any(|name| {
        ['\'', '"'].iter().any(|q| {
            let quoted = format!("{q}{name}{q}");
            code.match_indices(&quoted).any(|(at, _)| {
                let before = code[..at].trim_end();
                before.ends_with("from") || before.ends_with("import")
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_imports_are_found() {
        assert!(imports_browser("import puppeteer from 'puppeteer';"));
        assert!(imports_browser("import { launch } from \"moat:browser\""));
        assert!(imports_browser(
            "import * as p from 'puppeteer-core'\nawait p.launch()"
        ));
        assert!(imports_browser("import 'puppeteer'"));
        assert!(imports_browser("export { default } from 'moat:browser'"));
        assert!(imports_browser("import p from\n  'puppeteer'"));
    }

    #[test]
    fn other_mentions_are_not() {
        assert!(!imports_browser("console.log('puppeteer')"));
        assert!(!imports_browser("const p = await import('puppeteer')"));
        assert!(!imports_browser("import x from 'puppeteer-extra'"));
        assert!(!imports_browser("import _ from 'lodash-es'"));
    }
}
