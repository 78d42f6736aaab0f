//! Who is asking: the client's address, and the signed-in user if there is one.
//!
//! The address is the TCP peer's. `X-Forwarded-For` is read only when the peer is a
//! configured trusted proxy, and then from the right, skipping trusted hops: everything
//! left of the first untrusted address is whatever the client chose to write.

use actix_web::dev::Payload;
use actix_web::web::Data;
use actix_web::{FromRequest, HttpRequest};
use ipnet::IpNet;
use std::net::{IpAddr, Ipv6Addr};
use web::{Authenticated, JwtKeys};

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

/// The key an address is counted under. An IPv6 subscriber usually holds a whole /64 and
/// can rotate through it at will, so the /64 is the client.
pub fn ip_subject(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => {
            let prefix = u128::from(ip) & (u128::MAX << 64);
            format!("{}/64", Ipv6Addr::from(prefix))
        }
    }
}

/// The signed-in user's id, if the request carries a valid access token and the app
/// verifies tokens (`web::Data<JwtKeys>` is registered). An invalid token counts as
/// signed out here; the route's own extractor refuses it.
pub fn account_subject(request: &HttpRequest) -> Option<String> {
    // Checked first: without keys the extractor would log an internal error per request.
    request.app_data::<Data<JwtKeys>>()?;
    let caller = Authenticated::from_request(request, &mut Payload::None)
        .into_inner()
        .ok()?;
    Some(caller.user_id().to_string())
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

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let a = ip_subject("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = ip_subject("2001:db8:1:2:bbbb::2".parse().unwrap());
        let other = ip_subject("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_ne!(a, other);
        assert_eq!(ip_subject("::ffff:192.0.2.1".parse().unwrap()), "192.0.2.1");
    }
}
