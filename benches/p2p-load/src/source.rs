//! Which loopback address each connection comes from.
//!
//! monerod (`--max-connections-per-ip`, default 1; the test kit starts it with 10) and umbrad
//! both cap connections per source IP, so the load spreads its connections over the
//! addresses of `127.0.0.0/8`, all of which are local on Linux: the socket is bound to
//! `127.a.b.c:0` before it connects. Addresses ending in `.0` and `.255` are skipped, and
//! `127.0.0.1` is left to the target itself and to readiness probes.

use std::net::Ipv4Addr;

/// Addresses per `/24` the plan uses (`.2` to `.254`).
const HOSTS_PER_24: usize = 253;

/// The last octet of the first address of every `/24`.
const FIRST_HOST: usize = 2;

/// Spreads connection indices over loopback source addresses, `per_ip` connections each.
///
/// ```
/// use std::net::Ipv4Addr;
/// use umbra_p2p_load::SourcePlan;
///
/// let plan = SourcePlan::new(2);
/// assert_eq!(plan.ip(0), Some(Ipv4Addr::new(127, 0, 0, 2)));
/// assert_eq!(plan.ip(1), Some(Ipv4Addr::new(127, 0, 0, 2)));
/// assert_eq!(plan.ip(2), Some(Ipv4Addr::new(127, 0, 0, 3)));
/// assert_eq!(SourcePlan::new(1).ip(253), Some(Ipv4Addr::new(127, 0, 1, 2)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourcePlan {
    per_ip: usize,
}

impl SourcePlan {
    /// A plan putting at most `per_ip` connections on one address (0 counts as 1).
    #[must_use]
    pub fn new(per_ip: usize) -> Self {
        Self {
            per_ip: per_ip.max(1),
        }
    }

    /// Connections per address.
    #[must_use]
    pub fn per_ip(&self) -> usize {
        self.per_ip
    }

    /// The source address of connection `index` (0-based), or `None` past
    /// `127.255.255.254` (about 16.5 million addresses).
    #[must_use]
    pub fn ip(&self, index: usize) -> Option<Ipv4Addr> {
        let slot = index / self.per_ip;
        let net = u16::try_from(slot / HOSTS_PER_24).ok()?;
        let host = u8::try_from(slot % HOSTS_PER_24 + FIRST_HOST).ok()?;
        let [b, c] = net.to_be_bytes();
        Some(Ipv4Addr::new(127, b, c, host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_uses_network_broadcast_or_the_targets_address() {
        let plan = SourcePlan::new(1);
        for index in 0..100_000 {
            let ip = plan.ip(index).map(|ip| ip.octets());
            let Some([a, _, _, d]) = ip else {
                panic!("{index} is within range")
            };
            assert_eq!(a, 127);
            assert!((2..=254).contains(&d), "{index}: {ip:?}");
        }
    }

    #[test]
    fn addresses_are_distinct_per_slot() {
        let plan = SourcePlan::new(1);
        let ips: std::collections::HashSet<_> = (0..20_000).filter_map(|i| plan.ip(i)).collect();
        assert_eq!(ips.len(), 20_000);
    }

    #[test]
    fn runs_out_at_the_end_of_127_slash_8() {
        let plan = SourcePlan::new(1);
        assert_eq!(
            plan.ip(65_536 * 253 - 1),
            Some(Ipv4Addr::new(127, 255, 255, 254))
        );
        assert_eq!(plan.ip(65_536 * 253), None);
    }
}
