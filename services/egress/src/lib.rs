//! `moat-egress`: makes every outbound connection on behalf of scripts,
//! under the operator's policy, holding no credentials of moat's.

pub mod policy;
