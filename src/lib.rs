//! The `moat` command-line program as a library: its commands, and the
//! rendering of runs for people, kept apart from `main.rs` so they can be tested.

pub mod cli;
pub mod exec;
pub mod exec_host;
pub mod files;
pub mod http;
pub mod keys;
pub mod render;
pub mod run;
pub mod supervise;
pub mod up;
