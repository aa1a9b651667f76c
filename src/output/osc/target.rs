//! Receivers: parsing and resolving `HOST:PORT`.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, ToSocketAddrs};

use crate::error::{Error, Result};

/// The setting name in the errors about receivers.
pub(super) const TARGET_SETTING: &str = "osc target";

/// The accepted form of a receiver, for error messages.
pub(super) const TARGET_FORM: &str =
    "expected HOST:PORT, e.g. 127.0.0.1:7700, localhost:7000 or [::1]:9000";

/// One receiver: the address as the user wrote it and what it resolved to at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OscTarget {
    /// As given (`HOST:PORT`, trimmed), for messages.
    pub spec: String,
    /// The socket address the host resolved to when it was parsed.
    pub addr: SocketAddr,
}

impl OscTarget {
    /// Parses and resolves `HOST:PORT` (`localhost:7000`, `192.168.1.20:7700`, `[::1]:9000`,
    /// `mixer.local:8000`). Host names are resolved now; when a name has IPv4 and IPv6
    /// addresses, the first IPv4 one is taken (most OSC receivers listen on IPv4 only).
    ///
    /// Errors are [`Error::InvalidSetting`] naming the setting `osc target`, the value and
    /// the expected form.
    ///
    /// # Examples
    ///
    /// ```
    /// use mstag::output::OscTarget;
    ///
    /// let t = OscTarget::parse("127.0.0.1:7700")?;
    /// assert_eq!(t.addr.port(), 7700);
    /// assert_eq!(t.to_string(), "127.0.0.1:7700");
    ///
    /// let t = OscTarget::parse("[::1]:9000")?;
    /// assert!(t.addr.is_ipv6());
    ///
    /// let e = OscTarget::parse("127.0.0.1").unwrap_err();
    /// assert!(matches!(e, mstag::Error::InvalidSetting { name: "osc target", .. }));
    /// assert!(e.to_string().contains("no port"));
    /// # Ok::<(), mstag::Error>(())
    /// ```
    pub fn parse(spec: &str) -> Result<OscTarget> {
        let bad = |reason: String| Error::InvalidSetting {
            name: TARGET_SETTING,
            value: spec.to_string(),
            reason: format!("{reason}; {TARGET_FORM}"),
        };
        let s = spec.trim();
        let (host, port, bracketed) = if let Some(rest) = s.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| bad("'[' without a closing ']'".into()))?;
            let port = after
                .strip_prefix(':')
                .ok_or_else(|| bad("no port after the bracketed IPv6 address".into()))?;
            (host, port, true)
        } else {
            let (host, port) = s.rsplit_once(':').ok_or_else(|| bad("no port".into()))?;
            if host.contains(':') {
                return Err(bad("an IPv6 address must be written in brackets".into()));
            }
            (host, port, false)
        };
        if host.is_empty() {
            return Err(bad("no host".into()));
        }
        if port.is_empty() {
            return Err(bad("no port".into()));
        }
        let port: u32 = port
            .parse()
            .map_err(|_| bad(format!("port {port:?} is not a number")))?;
        if port == 0 || port > u16::MAX as u32 {
            return Err(bad(format!("port {port} is out of range (1 to 65535)")));
        }
        let port = port as u16;
        let addr = if bracketed {
            let ip: Ipv6Addr = host
                .parse()
                .map_err(|_| bad(format!("{host:?} is not an IPv6 address")))?;
            SocketAddr::new(IpAddr::V6(ip), port)
        } else {
            let addrs: Vec<SocketAddr> = (host, port)
                .to_socket_addrs()
                .map_err(|e| bad(format!("cannot resolve host {host:?}: {e}")))?
                .collect();
            addrs
                .iter()
                .find(|a| a.is_ipv4())
                .or_else(|| addrs.first())
                .copied()
                .ok_or_else(|| bad(format!("host {host:?} has no address")))?
        };
        Ok(OscTarget {
            spec: s.to_string(),
            addr,
        })
    }
}

impl fmt::Display for OscTarget {
    /// The spec as given, followed by the resolved address in parentheses when they differ
    /// (`localhost:9000 (127.0.0.1:9000)`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.spec == self.addr.to_string() {
            write!(f, "{}", self.spec)
        } else {
            write!(f, "{} ({})", self.spec, self.addr)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_resolve() {
        let t = OscTarget::parse("127.0.0.1:7700").unwrap();
        assert_eq!(t.addr, "127.0.0.1:7700".parse().unwrap());
        let t = OscTarget::parse("[::1]:9000").unwrap();
        assert_eq!(t.addr, "[::1]:9000".parse().unwrap());
        let t = OscTarget::parse("localhost:7000").unwrap();
        assert!(t.addr.ip().is_loopback());
        assert_eq!(t.addr.port(), 7000);
        assert!(t.addr.is_ipv4(), "IPv4 preferred for names: {}", t.addr);
        for (bad, why) in [
            ("localhost", "no port"),
            ("localhost:", "no port"),
            (":9000", "no host"),
            ("127.0.0.1:0", "out of range"),
            ("127.0.0.1:65536", "out of range"),
            ("127.0.0.1:99999999999", "not a number"),
            ("127.0.0.1:x", "not a number"),
            ("::1:9000", "brackets"),
            ("[::1]", "no port"),
            ("[::1:9000", "closing"),
            ("[localhost]:9000", "not an IPv6"),
            ("no-such-host.invalid:9000", "cannot resolve"),
            ("", "no port"),
        ] {
            let e = OscTarget::parse(bad).unwrap_err();
            assert!(matches!(
                e,
                Error::InvalidSetting {
                    name: "osc target",
                    ..
                }
            ));
            let e = e.to_string();
            assert!(e.contains(why), "{bad:?}: {e}");
            assert!(e.contains("HOST:PORT"), "{bad:?}: {e}");
            assert!(!e.contains("--osc"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn display_shows_the_resolved_address_when_it_differs() {
        let t = OscTarget::parse(" 127.0.0.1:7700 ").unwrap();
        assert_eq!(t.spec, "127.0.0.1:7700");
        assert_eq!(t.to_string(), "127.0.0.1:7700");
        let t = OscTarget::parse("localhost:7000").unwrap();
        assert_eq!(t.to_string(), format!("localhost:7000 ({})", t.addr));
    }
}
