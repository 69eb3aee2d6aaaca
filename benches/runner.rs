//! Runner benchmarks: the engine's floor (runtime + context), a whole run in
//! process (prelude, module, frames), a CPU-bound script, and process start to
//! result frame, each beside the same script under node where that compares.
//!
//! Run with `just bench`; figures and method in docs/performance.md.

// criterion_group! generates a function that cannot carry a doc comment.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use moat_benches::{node, run_node, run_runner, script};
use moat_runner::modules::ModuleMap;
use moat_runner::output::FrameWriter;
use moat_wire::{Job, Outcome};

fn in_process(code: &str) -> Outcome {
    let job = Job::new(code);
    let writer = Arc::new(FrameWriter::new(Box::new(std::io::sink())));
    let started = Instant::now();
    let deadline = moat_runner::deadline_for(&job, started);
    moat_runner::run(
        &job,
        ModuleMap::builtins_only(),
        writer,
        Arc::new(moat_runner::hostcall::HostChannel::closed(
            "no host in this benchmark",
        )),
        started,
        deadline,
    )
}

fn engine(c: &mut Criterion) {
    c.bench_function("quickjs runtime + context", |b| {
        b.iter(|| {
            let rt = rquickjs::Runtime::new().expect("runtime");
            let ctx = rquickjs::Context::full(&rt).expect("context");
            black_box(ctx);
        })
    });
    let hello = script("hello.js");
    c.bench_function(
        "run hello in process (runtime, prelude, module, frames)",
        |b| b.iter(|| assert_eq!(in_process(&hello), Outcome::Ok)),
    );
    let cpu = script("cpu.js");
    c.bench_function("run cpu.js in process", |b| {
        b.iter(|| assert_eq!(in_process(&cpu), Outcome::Ok))
    });
}

fn processes(c: &mut Criterion) {
    let mut group = c.benchmark_group("process start to result");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(8));
    let node = node();
    for name in ["hello.js", "cpu.js", "fib.js"] {
        let code = script(name);
        group.bench_function(format!("moat-runner {name}"), |b| {
            b.iter(|| run_runner(&code))
        });
        if let Some(node) = &node {
            group.bench_function(format!("node {name}"), |b| b.iter(|| run_node(node, name)));
        }
    }
    group.finish();
}

criterion_group!(benches, engine, processes);
criterion_main!(benches);
