//! The module loader QuickJS calls for every `import`, static or dynamic.
//!
//! It asks the [`ModuleMap`] and nothing else; a refusal is thrown as a
//! `ModuleNotAllowedError` naming the specifier, and remembered, so that the
//! outcome `module_not_allowed` cannot be faked by a script throwing an error
//! with the same name.

use std::cell::RefCell;
use std::rc::Rc;

use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::module::{Declarations, Exports, ModuleDef};
use rquickjs::{Ctx, Error, Exception, Function, JsLifetime, Module, Result};

use crate::modules::{ModuleMap, Source};

/// Name of the error thrown for a refused import.
pub const NOT_ALLOWED_ERROR: &str = "ModuleNotAllowedError";

/// What the loader saw, for classifying how a run ended.
#[derive(Default)]
pub struct LoadLog {
    /// Specifiers refused, in order.
    pub refused: Vec<String>,
    /// Modules (other than the script) that failed to parse.
    pub syntax_errors: Vec<String>,
}

/// The resolver and loader halves share the map and the log.
#[derive(Clone)]
pub struct Imports {
    map: Rc<RefCell<ModuleMap>>,
    log: Rc<RefCell<LoadLog>>,
}

impl Imports {
    /// Imports from `map`, logging into `log`.
    pub fn new(map: ModuleMap, log: Rc<RefCell<LoadLog>>) -> Self {
        Self {
            map: Rc::new(RefCell::new(map)),
            log,
        }
    }
}

impl Resolver for Imports {
    fn resolve<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> Result<String> {
        let refused = match self.map.borrow_mut().resolve(base, name) {
            Ok(resolved) => return Ok(resolved),
            Err(refused) => refused,
        };
        self.log
            .borrow_mut()
            .refused
            .push(refused.specifier.clone());
        let error = Exception::from_message(ctx.clone(), &refused.to_string())?;
        error.set("name", NOT_ALLOWED_ERROR)?;
        error.set("specifier", refused.specifier.as_str())?;
        Err(ctx.throw(error.into_value()))
    }
}

impl Loader for Imports {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> Result<Module<'js>> {
        let source = self.map.borrow().source(name).cloned();
        match source {
            Some(Source::Builtin("moat:files")) => {
                Module::declare_def::<FilesModule, _>(ctx.clone(), name)
            }
            Some(Source::Builtin("moat:browser")) => {
                Module::declare_def::<BrowserModule, _>(ctx.clone(), name)
            }
            Some(Source::File { .. }) => {
                let code = self
                    .map
                    .borrow()
                    .read(name)
                    .map_err(|e| Error::new_loading_message(name, e.to_string()))?;
                let declared = Module::declare(ctx.clone(), name, code);
                if declared.is_err() {
                    self.log.borrow_mut().syntax_errors.push(name.to_owned());
                }
                declared
            }
            _ => Err(Error::new_loading(name)),
        }
    }
}

/// The prelude's functions that Rust needs after the prelude has run.
pub struct PreludeExports<'js> {
    /// Node-style value formatting, safe on hostile values.
    pub inspect: Function<'js>,
    /// `moat:files`'s `save`.
    pub save: Function<'js>,
    /// An Error's `[name, message, stack]`, read without running its getters.
    pub describe_error: Function<'js>,
    /// Builds (once) and returns `moat:browser`'s Puppeteer object.
    pub browser: Function<'js>,
}

// SAFETY: the struct holds only values of the one lifetime 'js, and `Changed`
// renames exactly that lifetime, as the trait's documentation requires.
#[allow(unsafe_code)]
unsafe impl<'js> JsLifetime<'js> for PreludeExports<'js> {
    type Changed<'to> = PreludeExports<'to>;
}

/// `moat:files`: saving files the user gets back after the run.
struct FilesModule;

impl ModuleDef for FilesModule {
    fn declare(decl: &Declarations) -> Result<()> {
        decl.declare("save")?;
        decl.declare("default")?;
        Ok(())
    }

    fn evaluate<'js>(ctx: &Ctx<'js>, exports: &Exports<'js>) -> Result<()> {
        let save = ctx
            .userdata::<PreludeExports>()
            .map(|p| p.save.clone())
            .ok_or_else(|| Error::new_loading("moat:files"))?;
        let default = rquickjs::Object::new(ctx.clone())?;
        default.set("save", save.clone())?;
        exports.export("save", save)?;
        exports.export("default", default)?;
        Ok(())
    }
}

/// `moat:browser` (also `puppeteer` and `puppeteer-core`): the run's
/// browser, behind a Puppeteer-compatible API written in the prelude.
struct BrowserModule;

/// The names `moat:browser` exports beside `default`.
const BROWSER_EXPORTS: &[&str] = &[
    "launch",
    "connect",
    "errors",
    "TimeoutError",
    "ProtocolError",
];

impl ModuleDef for BrowserModule {
    fn declare(decl: &Declarations) -> Result<()> {
        for name in BROWSER_EXPORTS {
            decl.declare(*name)?;
        }
        decl.declare("default")?;
        Ok(())
    }

    fn evaluate<'js>(ctx: &Ctx<'js>, exports: &Exports<'js>) -> Result<()> {
        let build = ctx
            .userdata::<PreludeExports>()
            .map(|p| p.browser.clone())
            .ok_or_else(|| Error::new_loading("moat:browser"))?;
        let puppeteer: rquickjs::Object = build.call(())?;
        for name in BROWSER_EXPORTS {
            let value: rquickjs::Value = puppeteer.get(*name)?;
            exports.export(*name, value)?;
        }
        exports.export("default", puppeteer)?;
        Ok(())
    }
}
