//! Open connections per client address: one address (an IPv6 /64) may hold at most
//! `max_connections_per_ip`, so a single host that opens thousands of idle or slow
//! connections cannot use up the global `max_connections` and lock everyone else out.
//! A connection over the cap gets a short `503 overloaded` and is closed at once.
//! Behind a trusted reverse proxy ([`Proxies`]) the client is the address the proxy puts
//! in `X-Forwarded-For`, and the proxy's own connections are not capped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock, Mutex};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// Counts open connections by client address.
pub struct PerIp {
    cap: u32,
    open: Mutex<HashMap<IpAddr, u32>>,
}

/// Held while a connection is open; dropping it gives the slot back.
pub struct Slot {
    owner: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    pub fn new(cap: u32) -> Arc<PerIp> {
        Arc::new(PerIp {
            cap: cap.max(1),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for a new connection from `ip`, or `None` when that address is at its cap.
    pub fn enter(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let ip = key(ip);
        let mut open = self.open.lock().ok()?;
        let n = open.entry(ip).or_insert(0);
        if *n >= self.cap {
            return None;
        }
        *n += 1;
        Some(Slot {
            owner: self.clone(),
            ip,
        })
    }

    /// Connections open from `ip` now.
    #[cfg(test)]
    fn open(&self, ip: IpAddr) -> u32 {
        self.open
            .lock()
            .map(|m| m.get(&key(ip)).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.owner.open.lock() {
            if let Some(n) = open.get_mut(&self.ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    // Addresses without connections are forgotten, so the map stays small.
                    open.remove(&self.ip);
                }
            }
        }
    }
}

/// The address a limit is kept for: IPv4 as it is (IPv4-mapped IPv6 too), IPv6 by /64,
/// since one host usually holds the whole prefix.
pub fn key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        v4 => v4,
    }
}

/// The client's address as the limits see it, put on every request by the server loop.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

/// Addresses (`10.0.0.1`, `2001:db8::1`) and ranges (`10.0.0.0/8`); the first bad entry is
/// the error, in words.
pub fn parse_nets(entries: &[String]) -> Result<Vec<IpNet>, String> {
    entries
        .iter()
        .map(|e| {
            let e = e.trim();
            e.parse::<IpNet>()
                .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{e:?} is not an address or a range like 10.0.0.0/8"))
        })
        .collect()
}

/// The reverse proxies whose `X-Forwarded-For` is believed (`[limits] trusted_proxies`).
#[derive(Debug, Clone, Default)]
pub struct Proxies(Vec<IpNet>);

impl Proxies {
    /// Parses addresses (`10.0.0.1`) and ranges (`10.0.0.0/8`); the first bad entry is the error.
    pub fn parse(entries: &[String]) -> Result<Proxies, String> {
        parse_nets(entries).map(Proxies)
    }

    pub fn trusted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// Who sent a request that reached us from `peer`: `peer` itself unless it is a trusted
    /// proxy; then the nearest address in `X-Forwarded-For` (read right to left) that is
    /// not a trusted proxy. A header that cannot be read leaves the proxy's own address, so
    /// nobody escapes a limit by sending garbage.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if self.0.is_empty() || !self.trusted(peer) {
            return peer;
        }
        let mut hops = Vec::new();
        for v in headers.get_all("x-forwarded-for") {
            let Ok(v) = v.to_str() else { return peer };
            hops.extend(v.split(',').map(str::trim));
        }
        for hop in hops.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) if self.trusted(ip) => continue,
                Ok(ip) => return ip,
                Err(_) => return peer,
            }
        }
        peer
    }
}

/// What a connection over the cap is told before it is closed (one write, no waiting):
/// the usual error envelope, in Indonesian (the request is never read, so no
/// `Accept-Language` either).
pub static REFUSAL: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let body = serde_json::json!({"error": {
        "code": "overloaded",
        "message": "terlalu banyak koneksi terbuka dari alamat Anda; coba lagi sebentar lagi",
    }})
    .to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 1\r\nx-content-type-options: nosniff\r\ncache-control: no-store\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cap_per_address_freed_when_connections_close() {
        let p = PerIp::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let b: IpAddr = "10.0.0.2".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let s1 = p.enter(a);
        let s2 = p.enter(a);
        assert!(s1.is_some() && s2.is_some());
        assert!(p.enter(a).is_none(), "a third connection from one address");
        assert!(p.enter(b).is_some(), "another address is not affected");
        drop(s1);
        assert_eq!(p.open(a), 1);
        assert!(p.enter(a).is_some());
        drop(s2);
    }

    #[test]
    fn ipv6_counts_by_prefix_and_mapped_ipv4_as_ipv4() {
        let p = PerIp::new(1);
        let x: IpAddr = "2001:db8::1".parse().unwrap_or(IpAddr::from([0u8; 16]));
        let y: IpAddr = "2001:db8::ffff:2"
            .parse()
            .unwrap_or(IpAddr::from([0u8; 16]));
        let _s = p.enter(x);
        assert!(p.enter(y).is_none(), "same /64");
        let v4: IpAddr = "192.0.2.7".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let mapped: IpAddr = "::ffff:192.0.2.7"
            .parse()
            .unwrap_or(IpAddr::from([0u8; 16]));
        let _t = p.enter(v4);
        assert!(p.enter(mapped).is_none());
    }

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            if let Ok(v) = v.parse() {
                h.append("x-forwarded-for", v);
            }
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let p = Proxies::parse(&["10.0.0.0/8".into(), "192.0.2.1".into()]).unwrap_or_default();
        // Straight from a client: its own address, whatever it claims.
        assert_eq!(
            p.client(ip("203.0.113.9"), &headers(&["1.2.3.4"])),
            ip("203.0.113.9")
        );
        // Through our proxy: the address it saw.
        assert_eq!(
            p.client(ip("10.1.1.1"), &headers(&["198.51.100.7"])),
            ip("198.51.100.7")
        );
        // A forged entry on the left is ignored: the nearest untrusted hop counts.
        assert_eq!(
            p.client(ip("10.1.1.1"), &headers(&["1.2.3.4, 198.51.100.7"])),
            ip("198.51.100.7")
        );
        // Two proxies of ours in a row, and the header split over two lines.
        assert_eq!(
            p.client(ip("10.1.1.1"), &headers(&["198.51.100.8", "192.0.2.1"])),
            ip("198.51.100.8")
        );
        // Garbage or nothing: the proxy's own address.
        assert_eq!(
            p.client(ip("10.1.1.1"), &headers(&["nonsense"])),
            ip("10.1.1.1")
        );
        assert_eq!(p.client(ip("10.1.1.1"), &headers(&[])), ip("10.1.1.1"));
        assert!(p.trusted(ip("::ffff:10.2.3.4")), "IPv4-mapped");
        assert!(Proxies::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(Proxies::parse(&["proxy.local".into()]).is_err());
    }

    #[test]
    fn the_refusal_is_a_complete_response() {
        let text = String::from_utf8_lossy(&REFUSAL);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or(("", ""));
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        assert_eq!(len, body.len());
        assert!(serde_json::from_str::<serde_json::Value>(body).is_ok());
    }
}
