//! The broker's token guards the dashboard's API as it guards gRPC: a request carries
//! `Authorization: Bearer <token>`, or the cookie the page's sign-in sets (a browser's
//! `EventSource` cannot send headers). Without a configured token everything is open.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::ApiError;
use crate::service::constant_time_eq;

/// The cookie the sign-in sets.
const COOKIE: &str = "stalk_token";

/// The token requests must carry, if any.
#[derive(Clone, Default)]
pub(super) struct Guard {
    token: Option<Arc<str>>,
}

impl Guard {
    pub(super) fn new(token: Option<&str>) -> Self {
        Self {
            token: token.map(|t| Arc::from(t.trim())),
        }
    }

    /// Whether `given` is the token (always, when none is configured).
    fn admits(&self, given: Option<&str>) -> bool {
        match (&self.token, given) {
            (None, _) => true,
            (Some(expected), Some(given)) => {
                constant_time_eq(expected.as_bytes(), given.trim().as_bytes())
            }
            (Some(_), None) => false,
        }
    }
}

/// The token a request carries: its bearer header, else its cookie.
fn carried(headers: &HeaderMap) -> Option<&str> {
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(bearer);
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

/// Middleware: refuses a request without the token with 401.
pub(super) async fn require(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    if guard.admits(carried(request.headers())) {
        return next.run(request).await;
    }
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "this broker has a token: sign in with it (the broker's --auth-token)",
    )
    .into_response()
}

/// What the sign-in form posts.
#[derive(Deserialize)]
pub(super) struct SignIn {
    token: String,
}

/// `POST /api/login`: checks the token and sets it as an HTTP-only, same-site cookie.
pub(super) async fn login(
    State(guard): State<Guard>,
    sign_in: Result<Json<SignIn>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(sign_in) = sign_in.map_err(ApiError::body)?;
    if !guard.admits(Some(&sign_in.token)) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "the token is wrong",
        ));
    }
    let cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
        sign_in.token.trim()
    );
    let cookie = HeaderValue::from_str(&cookie).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_argument",
            "the token holds characters a cookie cannot carry",
        )
    })?;
    Ok(([(header::SET_COOKIE, cookie)], StatusCode::NO_CONTENT).into_response())
}

/// `POST /api/logout`: clears the cookie.
pub(super) async fn logout() -> Response {
    let cookie = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    match HeaderValue::from_str(&cookie) {
        Ok(cookie) => ([(header::SET_COOKIE, cookie)], StatusCode::NO_CONTENT).into_response(),
        Err(_) => StatusCode::NO_CONTENT.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn the_token_comes_from_the_bearer_header_or_the_cookie() {
        let bearer = headers(header::AUTHORIZATION, "Bearer s3cret");
        assert_eq!(carried(&bearer), Some("s3cret"));
        let cookie = headers(header::COOKIE, "theme=dark; stalk_token=s3cret");
        assert_eq!(carried(&cookie), Some("s3cret"));
        assert_eq!(carried(&headers(header::COOKIE, "stalk_tokens=x")), None);
        assert_eq!(carried(&HeaderMap::new()), None);
    }

    #[test]
    fn a_guard_admits_only_its_token() {
        let guard = Guard::new(Some("s3cret"));
        assert!(guard.admits(Some("s3cret")));
        assert!(!guard.admits(Some("nope")));
        assert!(!guard.admits(None));
        assert!(Guard::new(None).admits(None));
    }
}
