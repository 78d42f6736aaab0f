//! Who is asking, by address: the TCP peer, or the client a trusted proxy forwarded for.
//!
//! `X-Forwarded-For` is read only when the peer is a trusted proxy (`http.trusted_proxies`,
//! registered by the node as [`TrustedProxies`]), and then from the right, skipping trusted
//! hops: everything left of the first untrusted address is whatever the client chose to
//! write.

use actix_web::HttpRequest;
use ipnet::IpNet;
use std::net::IpAddr;
use std::sync::Arc;

/// The proxies whose `X-Forwarded-For` the node believes, as app data.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(pub Arc<[IpNet]>);

/// The client's address as far as it can be trusted (None off TCP, e.g. in unit tests
/// that set no peer).
pub fn client_ip(request: &HttpRequest, trusted_proxies: &[IpNet]) -> Option<IpAddr> {
    let peer = request.peer_addr()?.ip().to_canonical();
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return Some(peer);
    }
    let hops: Vec<IpAddr> = request
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(parse_hop)
        .collect();
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        client = hop;
        if !trusted(&hop) {
            break;
        }
    }
    Some(client)
}

/// One `X-Forwarded-For` entry: an address, possibly with a port or in brackets.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| {
            hop.parse::<std::net::SocketAddr>()
                .ok()
                .map(|addr| addr.ip())
        })
        .or_else(|| {
            hop.strip_prefix('[')
                .and_then(|hop| hop.strip_suffix(']'))
                .and_then(|hop| hop.parse().ok())
        })
        .map(|ip: IpAddr| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn request(peer: &str, forwarded: Option<&str>) -> HttpRequest {
        let mut request = TestRequest::default().peer_addr(peer.parse().unwrap());
        if let Some(forwarded) = forwarded {
            request = request.insert_header(("x-forwarded-for", forwarded));
        }
        request.to_http_request()
    }

    #[test]
    fn forwarded_for_is_ignored_unless_the_peer_is_trusted() {
        let untrusted = request("198.51.100.1:5000", Some("203.0.113.9"));
        assert_eq!(
            client_ip(&untrusted, &[]),
            Some("198.51.100.1".parse().unwrap())
        );
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            client_ip(&untrusted, &trusted),
            Some("198.51.100.1".parse().unwrap())
        );
    }

    #[test]
    fn behind_trusted_proxies_the_first_untrusted_hop_from_the_right_is_the_client() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        // The client wrote a fake first hop; the proxies appended the real ones.
        let behind = request("10.0.0.2:443", Some("1.2.3.4, 203.0.113.9, 10.0.0.7"));
        assert_eq!(
            client_ip(&behind, &trusted),
            Some("203.0.113.9".parse().unwrap())
        );
        // Every hop trusted: the leftmost is the best there is.
        let internal = request("10.0.0.2:443", Some("10.1.1.1, 10.0.0.7"));
        assert_eq!(
            client_ip(&internal, &trusted),
            Some("10.1.1.1".parse().unwrap())
        );
        // No header: the proxy itself.
        let bare = request("10.0.0.2:443", None);
        assert_eq!(
            client_ip(&bare, &trusted),
            Some("10.0.0.2".parse().unwrap())
        );
    }

    #[test]
    fn hops_may_carry_ports_and_brackets() {
        assert_eq!(parse_hop(" 203.0.113.9:8080"), "203.0.113.9".parse().ok());
        assert_eq!(parse_hop("[2001:db8::1]:443"), "2001:db8::1".parse().ok());
        assert_eq!(parse_hop("[2001:db8::1]"), "2001:db8::1".parse().ok());
        assert_eq!(parse_hop("unknown"), None);
    }
}
