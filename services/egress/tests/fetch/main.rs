//! The egress client against real servers on loopback (127.0.0.1 and a
//! test DNS server resolving to loopback), asserting what a script's author
//! would check. No other address is ever a connection target: refusals of
//! private and link-local ranges are the policy's unit tests.

mod decode;
mod dns;
mod hostile;
mod http;
mod redirect;
mod support;
mod tls;
