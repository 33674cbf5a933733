//! Rate limits per client address: the public endpoints share one token bucket per address,
//! and failed credential checks another. A refused request costs a map lookup and gets 429 with
//! `Retry-After`.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv6Addr, SocketAddr},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{HeaderMap, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};
use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};

use super::error::ApiError;
use crate::{
    config::{Limits, limits::TrustedProxies},
    telemetry,
};

/// The address a request is counted against: the socket's peer, or behind a trusted proxy the
/// client it forwarded for. An IPv6 client counts as its /64 network (one home, one office).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// The client of a request from `peer` with these headers.
    pub fn resolve(peer: SocketAddr, headers: &HeaderMap, proxies: &TrustedProxies) -> Self {
        let mut ip = canonical(peer.ip());
        if !proxies.is_empty() && proxies.contains(ip) {
            // Each proxy appends the address it got the request from: read from the right,
            // skipping our own proxies; the first other address is the client. Anything left
            // of it was written by the client and is not believed.
            let forwarded = headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(','))
                .collect::<Vec<_>>();
            for entry in forwarded.iter().rev() {
                let Some(hop) = hop_address(entry) else {
                    tracing::debug!(entry, "an X-Forwarded-For entry that is not an address");
                    break;
                };
                ip = hop;
                if !proxies.contains(hop) {
                    break;
                }
            }
        }
        Self(network(ip))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Every connection's requests carry it (see `serve`); a request built in-process
        // without one counts as the unspecified address.
        Ok(parts
            .extensions
            .get::<ClientIp>()
            .copied()
            .unwrap_or(ClientIp(IpAddr::from([0, 0, 0, 0]))))
    }
}

/// An `X-Forwarded-For` entry's address: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or
/// `[2001:db8::1]:443`.
fn hop_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let ip = entry.parse::<IpAddr>().ok().or_else(|| {
        entry
            .parse::<SocketAddr>()
            .ok()
            .map(|addr| addr.ip())
            .or_else(|| entry.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
    })?;
    Some(canonical(ip))
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// The buckets, one per client address and kind.
pub struct RateLimits {
    on: bool,
    public: DefaultKeyedRateLimiter<ClientIp>,
    auth_failures: DefaultKeyedRateLimiter<ClientIp>,
    /// Addresses whose failed checks ran out, until when.
    blocked: Mutex<HashMap<ClientIp, Instant>>,
    /// At most one log line per address and 10 s, whatever the flood.
    logged: DefaultKeyedRateLimiter<ClientIp>,
}

impl RateLimits {
    pub fn new(limits: &Limits) -> Self {
        let auth = Quota::per_minute(limits.auth_failures_per_minute)
            .allow_burst(limits.auth_failure_burst);
        let log = Quota::with_period(Duration::from_secs(10)).expect("a non-zero period");
        Self {
            on: limits.rate_limits,
            public: RateLimiter::keyed(
                Quota::per_second(limits.public_rate).allow_burst(limits.public_burst),
            ),
            auth_failures: RateLimiter::keyed(auth),
            blocked: Mutex::new(HashMap::new()),
            logged: RateLimiter::keyed(log),
        }
    }

    /// Counts a public request; `Err` is the 429 to answer.
    pub fn public(&self, ip: ClientIp) -> Result<(), ApiError> {
        if !self.on {
            return Ok(());
        }
        self.public.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            self.refused(ip, ("public", "public requests"), wait)
        })
    }

    /// Refuses a credential check from an address whose failed checks ran out.
    pub fn credentials(&self, ip: ClientIp) -> Result<(), ApiError> {
        if !self.on {
            return Ok(());
        }
        let now = Instant::now();
        let blocked = self.blocked.lock().expect("not poisoned");
        match blocked.get(&ip) {
            Some(until) if *until > now => {
                telemetry::rate_limited("credentials");
                Err(ApiError::RateLimited(*until - now))
            }
            _ => Ok(()),
        }
    }

    /// Counts a failed credential check; the one past the allowance is answered with the 429
    /// it returns, and the address's checks are refused until the allowance refills.
    pub fn credential_failed(&self, ip: ClientIp) -> Option<ApiError> {
        if !self.on {
            return None;
        }
        let not_until = self.auth_failures.check_key(&ip).err()?;
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        let now = Instant::now();
        let mut blocked = self.blocked.lock().expect("not poisoned");
        blocked.retain(|_, until| *until > now);
        blocked.insert(ip, now + wait);
        drop(blocked);
        Some(self.refused(ip, ("credentials", "failed credential checks"), wait))
    }

    /// A refusal by the limit `label` (of `what`), counted and logged.
    fn refused(
        &self,
        ip: ClientIp,
        (label, what): (&'static str, &'static str),
        wait: Duration,
    ) -> ApiError {
        telemetry::rate_limited(label);
        if self.logged.check_key(&ip).is_ok() {
            tracing::warn!(
                client = %ip.0,
                limit = what,
                retry_after_ms = wait.as_millis() as u64,
                "rate limit hit: refusing this address's requests with 429 for now"
            );
        }
        ApiError::RateLimited(wait)
    }

    /// Forgets the addresses whose buckets are full again: memory stays bounded by the
    /// addresses active within a refill.
    pub fn prune(&self) {
        for limiter in [&self.public, &self.auth_failures, &self.logged] {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let now = Instant::now();
        self.blocked
            .lock()
            .expect("not poisoned")
            .retain(|_, until| *until > now);
    }
}

/// Middleware of the public endpoints.
pub async fn public(
    State(limits): State<Arc<RateLimits>>,
    ip: ClientIp,
    req: Request,
    next: Next,
) -> Response {
    match limits.public(ip) {
        Ok(()) => next.run(req).await,
        Err(refused) => refused.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(list: &str) -> TrustedProxies {
        let limits = <crate::Config as clap::Parser>::try_parse_from([
            "zoomtrack",
            "--trusted-proxies",
            list,
        ])
        .expect("parses")
        .limits;
        limits.trusted_proxies
    }

    fn resolve(peer: &str, forwarded: &[&str], trusted: &str) -> IpAddr {
        let mut headers = HeaderMap::new();
        for value in forwarded {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        ClientIp::resolve(peer.parse().unwrap(), &headers, &proxies(trusted)).0
    }

    #[test]
    fn the_client_is_never_taken_from_a_header_it_controls() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // No trusted proxy: the header is ignored.
        assert_eq!(
            resolve("203.0.113.5:4000", &["1.2.3.4"], ""),
            ip("203.0.113.5")
        );
        // A peer that is not a trusted proxy: ignored too.
        assert_eq!(
            resolve("203.0.113.5:4000", &["1.2.3.4"], "10.0.0.0/8"),
            ip("203.0.113.5")
        );
        // Behind a trusted proxy: the rightmost untrusted entry, whatever the client wrote.
        assert_eq!(
            resolve("10.0.0.2:4000", &["6.6.6.6, 198.51.100.7"], "10.0.0.0/8"),
            ip("198.51.100.7")
        );
        // Two trusted hops, over two headers.
        assert_eq!(
            resolve(
                "10.0.0.2:4000",
                &["6.6.6.6, 198.51.100.7", "10.0.0.9"],
                "10.0.0.0/8"
            ),
            ip("198.51.100.7")
        );
        // Ports and brackets, as some proxies write them.
        assert_eq!(
            resolve("10.0.0.2:4000", &["198.51.100.7:5678"], "10.0.0.0/8"),
            ip("198.51.100.7")
        );
        assert_eq!(
            resolve("10.0.0.2:4000", &["[2001:db8::1]:443"], "10.0.0.0/8"),
            ip("2001:db8::")
        );
        // Garbage stops the walk at the last good hop.
        assert_eq!(
            resolve("10.0.0.2:4000", &["not-an-ip, 10.0.0.3"], "10.0.0.0/8"),
            ip("10.0.0.3")
        );
        // IPv6 clients count per /64; IPv4-mapped addresses as IPv4.
        assert_eq!(
            resolve("[2001:db8:1:2:3:4:5:6]:4000", &[], ""),
            ip("2001:db8:1:2::")
        );
        assert_eq!(resolve("[::ffff:192.0.2.1]:4000", &[], ""), ip("192.0.2.1"));
    }
}
