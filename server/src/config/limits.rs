//! The limits that keep abusive traffic from hurting the sessions: rate limits per client
//! address, connection and time limits, WebSocket limits, and what the GraphQL endpoint shows.

use std::{num::NonZeroU32, time::Duration};

use clap::Args;
use ipnet::IpNet;

#[derive(Args, Debug, Clone)]
pub struct Limits {
    /// `on` (default) or `off`: `off` turns every rate limit off, for benchmarks and trusted
    /// networks.
    #[arg(long, env = "RATE_LIMITS", action = clap::ArgAction::Set, default_value = "on", value_parser = parse_switch)]
    pub rate_limits: bool,

    /// Requests per second each client address may send to the public endpoints (tracking page,
    /// heartbeat, end-session, Zoom's webhook, GraphQL without a credential), on average.
    #[arg(long, env = "PUBLIC_RATE", default_value = "50", value_parser = parse_count)]
    pub public_rate: NonZeroU32,

    /// How many public requests one address may send at once before `PUBLIC_RATE` applies: a
    /// classroom behind one address clicking together.
    #[arg(long, env = "PUBLIC_BURST", default_value = "1000", value_parser = parse_count)]
    pub public_burst: NonZeroU32,

    /// Failed credential checks (a wrong or revoked bearer token) each address may make per
    /// minute; past them (and `AUTH_FAILURE_BURST`), its credential checks get 429.
    #[arg(long, env = "AUTH_FAILURES_PER_MINUTE", default_value = "10", value_parser = parse_count)]
    pub auth_failures_per_minute: NonZeroU32,

    /// Failed credential checks an address may make at once.
    #[arg(long, env = "AUTH_FAILURE_BURST", default_value = "20", value_parser = parse_count)]
    pub auth_failure_burst: NonZeroU32,

    /// Reverse proxies (comma-separated addresses or CIDRs, e.g. `10.0.0.0/8,::1`) whose
    /// `X-Forwarded-For` is believed: behind them, the client is the rightmost address of that
    /// header that is not one of them. Empty (default): the client is the socket's peer, and
    /// `X-Forwarded-For` is ignored.
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "", value_parser = parse_proxies)]
    pub trusted_proxies: TrustedProxies,

    /// Open connections at most; past it, new connections are closed at once.
    #[arg(long, env = "MAX_CONNECTIONS", default_value = "4096", value_parser = parse_count)]
    pub max_connections: NonZeroU32,

    /// Open connections at most from one client address (a trusted proxy's are not counted).
    #[arg(long, env = "MAX_CONNECTIONS_PER_ADDRESS", default_value = "1024", value_parser = parse_count)]
    pub max_connections_per_address: NonZeroU32,

    /// A client must send a request's headers within this long; a kept-alive connection that
    /// sends no new request for this long is closed too.
    #[arg(long, env = "HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_timeout)]
    pub header_read_timeout: Duration,

    /// A request body must arrive whole within this long.
    #[arg(long, env = "BODY_READ_TIMEOUT", default_value = "10s", value_parser = parse_timeout)]
    pub body_read_timeout: Duration,

    /// A request is answered within this long or gets 503.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_timeout)]
    pub request_timeout: Duration,

    /// At a stop, requests in flight get this long to finish; the last heartbeats are written
    /// after them in any case.
    #[arg(long, env = "SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = parse_timeout)]
    pub shutdown_timeout: Duration,

    /// GraphQL WebSocket connections at most, in all.
    #[arg(long, env = "WS_MAX_CONNECTIONS", default_value = "1000", value_parser = parse_count)]
    pub ws_max_connections: NonZeroU32,

    /// GraphQL WebSocket connections at most per credential.
    #[arg(long, env = "WS_MAX_PER_CREDENTIAL", default_value = "20", value_parser = parse_count)]
    pub ws_max_per_credential: NonZeroU32,

    /// Subscriptions at most on one WebSocket connection.
    #[arg(long, env = "WS_MAX_SUBSCRIPTIONS", default_value = "20", value_parser = parse_count)]
    pub ws_max_subscriptions: NonZeroU32,

    /// How often the server pings an idle WebSocket; one that answers nothing for two of these
    /// is closed.
    #[arg(long, env = "WS_KEEPALIVE", default_value = "15s", value_parser = parse_timeout)]
    pub ws_keepalive: Duration,

    /// `1` serves GraphiQL at `GET /graphql` (from this server's own files, no CDN).
    /// Default `0`: off.
    #[arg(long, env = "GRAPHIQL", action = clap::ArgAction::Set, default_value = "0", value_parser = parse_switch)]
    pub graphiql: bool,

    /// `0` turns GraphQL introspection off. Default `1`: on, as integrators' tools need it.
    #[arg(long, env = "INTROSPECTION", action = clap::ArgAction::Set, default_value = "1", value_parser = parse_switch)]
    pub introspection: bool,
}

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn parse_switch(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "on" | "true" | "yes" => Ok(true),
        "0" | "off" | "false" | "no" => Ok(false),
        _ => Err("must be on or off (1 or 0)".into()),
    }
}

fn parse_count(value: &str) -> Result<NonZeroU32, String> {
    value
        .trim()
        .parse::<NonZeroU32>()
        .map_err(|_| "must be a whole number of at least 1".into())
}

fn parse_timeout(value: &str) -> Result<Duration, String> {
    let duration =
        humantime::parse_duration(value).map_err(|e| format!("{e} (examples: 10s, 1m)"))?;
    if !(Duration::from_millis(100)..=Duration::from_secs(3600)).contains(&duration) {
        return Err("must be between 100ms and 1h".into());
    }
    Ok(duration)
}

fn parse_proxies(value: &str) -> Result<TrustedProxies, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<IpNet>()
                .or_else(|_| part.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{part:?} is not an IP address or CIDR (e.g. 10.0.0.0/8)"))
        })
        .collect::<Result<_, _>>()
        .map(TrustedProxies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_are_addresses_or_networks() {
        let proxies = parse_proxies("10.0.0.0/8, ::1,192.168.1.7").unwrap();
        assert!(proxies.contains("10.1.2.3".parse().unwrap()));
        assert!(proxies.contains("::1".parse().unwrap()));
        assert!(proxies.contains("192.168.1.7".parse().unwrap()));
        assert!(!proxies.contains("192.168.1.8".parse().unwrap()));
        assert!(parse_proxies("").unwrap().is_empty());
        let err = parse_proxies("10.0.0.0/8,proxy.local").unwrap_err();
        assert!(err.contains("proxy.local"), "{err}");
    }

    #[test]
    fn switches_and_counts_say_what_they_take() {
        assert!(parse_switch("off").is_ok_and(|on| !on));
        assert!(parse_switch("1").is_ok_and(|on| on));
        assert!(parse_switch("maybe").is_err());
        assert!(parse_count("0").is_err());
        assert!(parse_timeout("0s").is_err());
        assert!(parse_timeout("2h").is_err());
    }
}
