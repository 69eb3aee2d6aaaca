//! moat's launcher: takes runs from the queue and runs each in its own gVisor
//! sandbox through containerd, treating everything the sandbox says as
//! hostile. It holds the credentials; user code never touches it.
//!
//! Built so far: the sandbox spec ([`spec`]), the containerd lifecycle
//! ([`sandbox`]), one whole run ([`run`]) and the hostile-output decoder
//! ([`frames`], [`sniff`]). The JetStream consumer, event publishing and the
//! object store come next.

pub mod frames;
pub mod run;
pub mod sandbox;
pub mod sniff;
pub mod spec;
