//! `ip("...")` matching: a single address, a range `a-b`, or a CIDR; addresses are found inside a longer value.

use std::net::IpAddr;

/// A compiled ip() pattern.
#[derive(Debug, Clone)]
pub enum IpMatcher {
    /// One address.
    Single(IpAddr),
    /// An inclusive range.
    Range(IpAddr, IpAddr),
    /// A CIDR block.
    Cidr(IpAddr, u8),
}

fn to_u128(a: IpAddr) -> (bool, u128) {
    match a {
        IpAddr::V4(v) => (true, u128::from(u32::from(v))),
        IpAddr::V6(v) => (false, u128::from(v)),
    }
}

impl IpMatcher {
    /// Parses a pattern.
    ///
    /// # Errors
    /// `ip: invalid pattern: "..."`.
    pub fn new(p: &str) -> Result<Self, String> {
        let bad = || format!("ip: invalid pattern: \"{p}\"");
        let p2 = p.trim();
        if let Some((a, b)) = p2.split_once('-') {
            let a: IpAddr = a.trim().parse().map_err(|_| bad())?;
            let b: IpAddr = b.trim().parse().map_err(|_| bad())?;
            if a.is_ipv4() != b.is_ipv4() {
                return Err(bad());
            }
            return Ok(Self::Range(a, b));
        }
        if let Some((a, n)) = p2.split_once('/') {
            let a: IpAddr = a.parse().map_err(|_| bad())?;
            let n: u8 = n.parse().map_err(|_| bad())?;
            if n > if a.is_ipv4() { 32 } else { 128 } {
                return Err(bad());
            }
            return Ok(Self::Cidr(a, n));
        }
        Ok(Self::Single(p2.parse().map_err(|_| bad())?))
    }

    /// Does the address match?
    #[must_use]
    pub fn matches_addr(&self, a: IpAddr) -> bool {
        let (v4, x) = to_u128(a);
        match self {
            Self::Single(s) => *s == a,
            Self::Range(lo, hi) => {
                let ((l4, l), (_, h)) = (to_u128(*lo), to_u128(*hi));
                l4 == v4 && l <= x && x <= h
            }
            Self::Cidr(net, bits) => {
                let (n4, n) = to_u128(*net);
                if n4 != v4 {
                    return false;
                }
                let width = if v4 { 32 } else { 128 };
                let shift = width - u32::from(*bits);
                if shift >= 128 {
                    return true;
                }
                (x >> shift) == (n >> shift)
            }
        }
    }

    /// Is there a matching address anywhere in `s`?
    #[must_use]
    pub fn matches_in_line(&self, s: &str) -> bool {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let is_ipc = |c: u8| c.is_ascii_hexdigit() || c == b'.' || c == b':';
            if !is_ipc(b[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && is_ipc(b[i]) {
                i += 1;
            }
            let tok = &s[start..i];
            if (tok.contains('.') || tok.contains(':')) && self.token_matches(tok) {
                return true;
            }
        }
        false
    }

    fn token_matches(&self, tok: &str) -> bool {
        if let Ok(a) = tok.parse::<IpAddr>() {
            return self.matches_addr(a);
        }
        if tok.contains('.') {
            // IPv4 with a port (`10.0.0.7:80`) or glued to other colons.
            return tok.split(':').any(|p| {
                p.trim_matches('.')
                    .parse::<IpAddr>()
                    .is_ok_and(|a| self.matches_addr(a))
            });
        }
        // Trim punctuation around the candidate (e.g. a trailing '.' or "::" glued to text).
        let t = tok.trim_matches(|c| c == '.' || c == ':');
        t.parse::<IpAddr>().is_ok_and(|a| self.matches_addr(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_patterns() {
        let m = IpMatcher::new("192.168.1.0/24").unwrap();
        assert!(m.matches_in_line("from 192.168.1.7 ok"));
        assert!(!m.matches_in_line("from 192.168.2.7 ok"));
        let r = IpMatcher::new("10.0.0.1-10.0.0.5").unwrap();
        assert!(r.matches_in_line("10.0.0.3"));
        assert!(!r.matches_in_line("10.0.0.6"));
        assert!(IpMatcher::new("::1").unwrap().matches_in_line("addr=::1"));
        assert!(IpMatcher::new("bogus").is_err());
    }
}
