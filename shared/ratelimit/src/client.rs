//! Who is asking: the client's address, and the signed-in user if there is one.
//!
//! The address is [`web::client::client_ip`]'s: the TCP peer's, or the forwarded client's
//! when the peer is a trusted proxy.

use actix_web::dev::Payload;
use actix_web::web::Data;
use actix_web::{FromRequest, HttpRequest};
use std::net::{IpAddr, Ipv6Addr};
pub use web::client::client_ip;
use web::{Authenticated, JwtKeys};

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
