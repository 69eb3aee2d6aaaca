//! Ports closed to scripts whatever the address: by default the mail
//! ports, so moat never becomes a spam relay.

/// The ports refused unless the operator sets its own list: SMTP (25),
/// SMTPS (465) and submission (587).
pub const DEFAULT_BLOCKED_PORTS: [u16; 3] = [25, 465, 587];

/// What a well-known closed port is for, to explain a refusal.
pub(crate) fn service(port: u16) -> Option<&'static str> {
    match port {
        25 | 465 | 587 => Some("mail"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_ports_are_named_as_mail() {
        for port in DEFAULT_BLOCKED_PORTS {
            assert_eq!(service(port), Some("mail"), "{port}");
        }
        assert_eq!(service(6379), None);
    }
}
