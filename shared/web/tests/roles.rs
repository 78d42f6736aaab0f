//! Role checks as a route sees them: 401 without a valid token, 403 without the role.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use actix_web::{App, HttpResponse, get, test, web as aweb};
use kernel::{Role, UserId};
use web::{Admins, Authorized, Claims, Editors, JwtKeys};

#[get("/admin")]
async fn admin_only(caller: Authorized<Admins>) -> HttpResponse {
    HttpResponse::Ok().body(caller.claims().sub.to_string())
}

#[get("/editorial")]
async fn editors(_caller: Authorized<Editors>) -> HttpResponse {
    HttpResponse::Ok().finish()
}

fn token(keys: &JwtKeys, roles: Vec<Role>) -> String {
    let now = chrono::Utc::now().timestamp();
    keys.sign(&Claims {
        sub: UserId::new(),
        roles,
        sid: uuid::Uuid::new_v4(),
        iat: now,
        exp: now + 60,
        iss: "platform".into(),
    })
}

#[actix_web::test]
async fn routes_admit_only_their_roles() {
    let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef", "platform");
    let app = test::init_service(
        App::new()
            .app_data(aweb::Data::new(keys.clone()))
            .service(admin_only)
            .service(editors),
    )
    .await;
    let cases = [
        ("/admin", None, 401),
        ("/admin", Some(vec![Role::User]), 403),
        ("/admin", Some(vec![Role::Editor]), 403),
        ("/admin", Some(vec![Role::User, Role::Admin]), 200),
        ("/editorial", Some(vec![Role::Partner]), 403),
        ("/editorial", Some(vec![Role::Editor]), 200),
        ("/editorial", Some(vec![Role::Admin]), 200),
    ];
    for (path, roles, status) in cases {
        let mut request = test::TestRequest::get().uri(path);
        if let Some(roles) = roles.clone() {
            request =
                request.insert_header(("authorization", format!("Bearer {}", token(&keys, roles))));
        }
        let response = test::call_service(&app, request.to_request()).await;
        assert_eq!(response.status().as_u16(), status, "{path} with {roles:?}");
        if status != 200 {
            assert_eq!(
                response.headers().get("content-type").unwrap(),
                "application/problem+json"
            );
        }
    }
}
