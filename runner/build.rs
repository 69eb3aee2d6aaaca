//! Compiles the prelude (`src/prelude/`, joined in `list.rs`'s order) to
//! QuickJS bytecode at build time, as a module whose default export is the
//! prelude's function, so a run loads it instead of parsing ~1,000 lines of
//! JS. The compiler is the same QuickJS the runner links (rquickjs from the
//! same lockfile), so the bytecode's format is the runtime's own.

use rquickjs::module::WriteOptions;
use rquickjs::{Context, Module, Runtime};

/// The prelude's files, as `src/prelude/list.rs` names them.
macro_rules! prelude {
    ($($file:literal),* $(,)?) => {
        const FILES: &[&str] = &[$($file),*];
    };
}
include!("src/prelude/list.rs");

fn main() {
    println!("cargo:rerun-if-changed=src/prelude/list.rs");
    let mut source = String::from("export default ");
    for file in FILES {
        let path = format!("src/prelude/{file}");
        println!("cargo:rerun-if-changed={path}");
        source.push_str(&std::fs::read_to_string(&path).expect("a prelude file"));
    }
    let rt = Runtime::new().expect("a QuickJS runtime");
    let ctx = Context::full(&rt).expect("a QuickJS context");
    let bytecode = ctx
        .with(|ctx| {
            Module::declare(ctx, "moat:prelude", source)?.write(WriteOptions {
                strip_source: true,
                ..WriteOptions::default()
            })
        })
        .expect("the prelude compiles");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(out.join("prelude.qjsbc"), bytecode).expect("writing the bytecode");
}
