//! Where a request comes from. Directly connected clients are their TCP peer;
//! behind a reverse proxy every request's peer is the proxy, so when the peer is
//! listed in `trusted_proxies` the client is read from `X-Forwarded-For` instead:
//! from the right, skipping the trusted proxies' own addresses, since only the
//! entries those proxies appended can be believed (a client can send any
//! `X-Forwarded-For` it likes, and a proxy appends to it).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

use crate::app::AppState;

/// The client's address: the TCP peer, or what trusted proxies say it was.
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<ClientIp, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        Ok(ClientIp(client_address(
            peer,
            &parts.headers,
            &state.config.trusted_proxies,
        )))
    }
}

/// The client behind `peer`, given the proxies whose word is taken.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded_for(headers).into_iter().rev() {
        match hop {
            Some(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            // Garbage in the chain: nothing left of it can be trusted.
            None => break,
        }
    }
    client
}

/// Every `X-Forwarded-For` entry in order (several headers are one list);
/// `None` for an entry that is not an IP address.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("?").split(','))
        .map(|entry| entry.trim().parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().expect("header value"));
        }
        headers
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|net| net.parse().expect("net")).collect()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let peer: IpAddr = "203.0.113.9".parse().expect("ip");
        let forwarded = headers(&["198.51.100.1"]);
        assert_eq!(client_address(peer, &forwarded, &[]), peer);
        assert_eq!(
            client_address(peer, &forwarded, &nets(&["10.0.0.0/8"])),
            peer
        );
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_entry_is_the_client() {
        let proxy: IpAddr = "10.0.0.5".parse().expect("ip");
        let trusted = nets(&["10.0.0.0/8"]);
        // The client claimed 1.1.1.1; the outer proxy saw 198.51.100.7; an
        // inner proxy 10.0.0.9 forwarded to the last one, 10.0.0.5.
        let forwarded = headers(&["1.1.1.1, 198.51.100.7", "10.0.0.9"]);
        assert_eq!(
            client_address(proxy, &forwarded, &trusted),
            "198.51.100.7".parse::<IpAddr>().expect("ip")
        );
    }

    #[test]
    fn a_trusted_proxy_without_a_usable_header_is_the_client() {
        let proxy: IpAddr = "10.0.0.5".parse().expect("ip");
        let trusted = nets(&["10.0.0.5/32"]);
        assert_eq!(client_address(proxy, &HeaderMap::new(), &trusted), proxy);
        assert_eq!(
            client_address(proxy, &headers(&["not-an-ip"]), &trusted),
            proxy
        );
    }
}
