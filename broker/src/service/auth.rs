//! Bearer-token authentication: when a token is configured, a call must carry
//! `authorization: Bearer <token>` or is refused with UNAUTHENTICATED.

use std::sync::Arc;

use tonic::{Request, Status};

/// The interceptor; lets everything through when no token is configured.
#[derive(Debug, Clone, Default)]
pub(crate) struct BearerAuth {
    expected: Option<Arc<str>>,
}

impl BearerAuth {
    pub(crate) fn new(token: Option<&str>) -> Self {
        Self {
            expected: token.map(|t| Arc::from(format!("Bearer {}", t.trim()))),
        }
    }
}

impl tonic::service::Interceptor for BearerAuth {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(expected) = &self.expected else {
            return Ok(request);
        };
        match request.metadata().get("authorization") {
            Some(given) if constant_time_eq(given.as_bytes(), expected.as_bytes()) => Ok(request),
            Some(_) => Err(Status::unauthenticated(
                "the bearer token is wrong; pass the broker's --auth-token",
            )),
            None => Err(Status::unauthenticated(
                "this broker needs `authorization: Bearer <token>` metadata on every call",
            )),
        }
    }
}

/// Compares without an early exit, so response timing does not reveal the token.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::service::Interceptor;

    #[test]
    fn missing_and_wrong_tokens_are_unauthenticated() {
        let mut auth = BearerAuth::new(Some("s3cret"));
        let err = auth.call(Request::new(())).unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unauthenticated);
        let mut wrong = Request::new(());
        wrong
            .metadata_mut()
            .insert("authorization", "Bearer nope".parse().unwrap());
        assert_eq!(
            auth.call(wrong).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        let mut right = Request::new(());
        right
            .metadata_mut()
            .insert("authorization", "Bearer s3cret".parse().unwrap());
        assert!(auth.call(right).is_ok());
    }

    #[test]
    fn no_token_configured_lets_calls_through() {
        assert!(BearerAuth::new(None).call(Request::new(())).is_ok());
    }
}
