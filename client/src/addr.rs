//! Parsing of broker addresses: `host:port`, `http://host:port` or `https://host:port`.

use crate::error::ClientError;

/// Whether the address named a scheme, and which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// `host:port`: plain HTTP/2 unless TLS is configured.
    Unspecified,
    /// `http://`: plain HTTP/2.
    Http,
    /// `https://`: TLS.
    Https,
}

/// A checked broker address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BrokerAddr {
    pub(crate) scheme: Scheme,
    /// A DNS name, an IPv4 address, or an IPv6 address in brackets.
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl BrokerAddr {
    /// The URI tonic connects to.
    pub(crate) fn uri(&self, tls: bool) -> String {
        let scheme = if tls { "https" } else { "http" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }
}

/// Parses `host:port`, `http://host:port` or `https://host:port` (one trailing `/` allowed).
pub(crate) fn parse_addr(input: &str) -> Result<BrokerAddr, ClientError> {
    let invalid = |reason: &str| ClientError::InvalidAddress {
        input: input.to_owned(),
        reason: reason.to_owned(),
    };
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(invalid("it is empty"));
    }
    let (scheme, rest) = if let Some(rest) = trimmed.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else if let Some(rest) = trimmed.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else if trimmed.contains("://") {
        return Err(invalid("the only schemes are http:// and https://"));
    } else {
        (Scheme::Unspecified, trimmed)
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['/', '?', '#', '@']) {
        return Err(invalid("it must not have a path, query or user name"));
    }
    let (host, port) = split_host_port(authority).map_err(invalid)?;
    Ok(BrokerAddr {
        scheme,
        host: host.to_owned(),
        port,
    })
}

fn split_host_port(authority: &str) -> Result<(&str, u16), &'static str> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority
            .find(']')
            .ok_or("an IPv6 address lacks its closing ']'")?;
        let (host, after) = authority.split_at(end + 1);
        let port = after
            .strip_prefix(':')
            .ok_or("the port is missing (e.g. [::1]:7070)")?;
        if host.len() <= 2
            || !host[1..end]
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err("the IPv6 address in brackets is malformed");
        }
        (host, port)
    } else {
        let (host, port) = authority
            .rsplit_once(':')
            .ok_or("the port is missing (e.g. localhost:7070)")?;
        if host.contains(':') {
            return Err("write an IPv6 address in brackets, e.g. [::1]:7070");
        }
        if host.is_empty() {
            return Err("the host is missing");
        }
        if !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        {
            return Err("the host may hold only letters, digits, '.', '-' and '_'");
        }
        (host, port)
    };
    match port.parse::<u16>() {
        Ok(0) => Err("port 0 cannot be connected to"),
        Ok(port) => Ok((host, port)),
        Err(_) => Err("the port must be a number from 1 to 65535"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(input: &str) -> BrokerAddr {
        parse_addr(input).unwrap_or_else(|e| panic!("{input:?} should parse: {e}"))
    }

    fn reason(input: &str) -> String {
        match parse_addr(input) {
            Err(ClientError::InvalidAddress {
                input: named,
                reason,
            }) => {
                assert_eq!(named, input, "the error names the input");
                reason
            }
            other => panic!("{input:?} should be an invalid address, got {other:?}"),
        }
    }

    #[test]
    fn host_and_port_without_a_scheme() {
        let addr = ok("127.0.0.1:7070");
        assert_eq!(addr.scheme, Scheme::Unspecified);
        assert_eq!(addr.uri(false), "http://127.0.0.1:7070");
        assert_eq!(addr.uri(true), "https://127.0.0.1:7070");
        assert_eq!(ok("localhost:1").host, "localhost");
        assert_eq!(ok(" broker.internal:7070 ").host, "broker.internal");
    }

    #[test]
    fn http_and_https_urls_keep_their_scheme() {
        assert_eq!(ok("http://broker:7070").scheme, Scheme::Http);
        let https = ok("https://stalk.example.com:443/");
        assert_eq!(https.scheme, Scheme::Https);
        assert_eq!(https.uri(true), "https://stalk.example.com:443");
    }

    #[test]
    fn ipv6_addresses_need_brackets() {
        let addr = ok("[::1]:7070");
        assert_eq!(addr.host, "[::1]");
        assert_eq!(addr.uri(false), "http://[::1]:7070");
        assert!(reason("::1:7070").contains("brackets"));
        assert!(reason("[::1]").contains("port"));
        assert!(reason("[::1:7070").contains("']'"));
        assert!(reason("[]:7070").contains("malformed"));
    }

    #[test]
    fn bad_addresses_say_what_is_wrong() {
        assert!(reason("").contains("empty"));
        assert!(reason("localhost").contains("port is missing"));
        assert!(reason("localhost:").contains("1 to 65535"));
        assert!(reason("localhost:70000").contains("1 to 65535"));
        assert!(reason("localhost:0").contains("port 0"));
        assert!(reason(":7070").contains("host is missing"));
        assert!(reason("grpc://localhost:7070").contains("schemes"));
        assert!(reason("http://localhost:7070/v1").contains("path"));
        assert!(reason("local host:7070").contains("letters"));
    }

    #[test]
    fn the_error_message_shows_the_accepted_forms() {
        let err = parse_addr("nope").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("'nope'"), "{text}");
        assert!(text.contains("host:port"), "{text}");
    }
}
