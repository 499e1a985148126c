//! Broker-wide limits: [`Client::set_limit`], [`Client::remove_limit`], [`Client::limits`].

use stalk_proto::v1;

use crate::client::Client;
use crate::error::ClientError;

/// A limit to set: a rate, a concurrency cap or both, on every task of a name or queue, for
/// the whole scope or for each value of a header.
///
/// ```
/// use stalk_client::Limit;
/// // At most 5 running tasks per tenant, and 100 a minute per tenant.
/// let limit = Limit::queue("mail").per("tenant").max_concurrency(5).rate("100/m");
/// assert_eq!(limit.scope, "queue:mail");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limit {
    /// `task:NAME` or `queue:NAME`.
    pub scope: String,
    /// A limit for each value of this header; `None`: one for the whole scope.
    pub per_header: Option<String>,
    /// Leases per period: `10/s`, `100/m`, `1000/h`, `5000/d`.
    pub rate: Option<String>,
    /// Leases granted at once after a quiet spell (0: one period's worth).
    pub burst: u32,
    /// Most leases held at once.
    pub max_concurrency: Option<u32>,
}

impl Limit {
    /// A limit on every task named `name`.
    pub fn task(name: impl Into<String>) -> Self {
        Self::scope(format!("task:{}", name.into()))
    }

    /// A limit on every task of `queue`.
    pub fn queue(queue: impl Into<String>) -> Self {
        Self::scope(format!("queue:{}", queue.into()))
    }

    /// A limit on `scope`, written `task:NAME` or `queue:NAME`.
    pub fn scope(scope: impl Into<String>) -> Self {
        Self {
            scope: scope.into(),
            ..Self::default()
        }
    }

    /// One limit for each value of `header` (tasks without it are not covered).
    #[must_use]
    pub fn per(mut self, header: impl Into<String>) -> Self {
        self.per_header = Some(header.into());
        self
    }

    /// Leases per period: `10/s`, `100/m`, `1000/h`, `5000/d`.
    #[must_use]
    pub fn rate(mut self, rate: impl Into<String>) -> Self {
        self.rate = Some(rate.into());
        self
    }

    /// Leases granted at once after a quiet spell.
    #[must_use]
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

    /// Most leases held at once.
    #[must_use]
    pub fn max_concurrency(mut self, max: u32) -> Self {
        self.max_concurrency = Some(max);
        self
    }
}

/// A limit as the broker holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitInfo {
    /// `task:NAME` or `queue:NAME`.
    pub scope: String,
    /// The header of a keyed limit.
    pub per_header: Option<String>,
    /// Leases per period, e.g. `10/s`.
    pub rate: Option<String>,
    /// Leases granted at once after a quiet spell.
    pub burst: u32,
    /// Most leases held at once.
    pub max_concurrency: Option<u32>,
    /// Leases the cap counts now, over all header values.
    pub running: u64,
    /// READY tasks the limit holds back now.
    pub waiting: u64,
}

impl Client {
    /// Sets a limit, replacing the one with the same scope and header. It holds across every
    /// worker and is stored. Returns every limit.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`]: `INVALID_ARGUMENT` naming `scope`, `per_header`, `rate` or
    /// `burst`.
    pub async fn set_limit(&self, limit: &Limit) -> Result<Vec<LimitInfo>, ClientError> {
        let request = v1::SetLimitRequest {
            scope: limit.scope.clone(),
            per_header: limit.per_header.clone().unwrap_or_default(),
            rate: limit.rate.clone().unwrap_or_default(),
            burst: limit.burst,
            max_concurrency: limit.max_concurrency.unwrap_or(0),
        };
        let response = self.admin().set_limit(request).await?.into_inner();
        Ok(limits(response))
    }

    /// Removes the limit of `scope` (`task:NAME` or `queue:NAME`) and `per_header`. Returns
    /// every limit left.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`]: `INVALID_ARGUMENT` naming `scope` or `per_header`; `NOT_FOUND`
    /// if there is no such limit.
    pub async fn remove_limit(
        &self,
        scope: &str,
        per_header: Option<&str>,
    ) -> Result<Vec<LimitInfo>, ClientError> {
        let mut limit = Limit::scope(scope);
        limit.per_header = per_header.map(str::to_string);
        self.set_limit(&limit).await
    }

    /// Every limit, by scope and header.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`] if the broker refuses the call.
    pub async fn limits(&self) -> Result<Vec<LimitInfo>, ClientError> {
        let response = self
            .admin()
            .list_limits(v1::ListLimitsRequest {})
            .await?
            .into_inner();
        Ok(limits(response))
    }
}

fn limits(response: v1::LimitsResponse) -> Vec<LimitInfo> {
    let some = |text: String| (!text.is_empty()).then_some(text);
    response
        .limits
        .into_iter()
        .map(|l| LimitInfo {
            scope: l.scope,
            per_header: some(l.per_header),
            rate: some(l.rate),
            burst: l.burst,
            max_concurrency: (l.max_concurrency > 0).then_some(l.max_concurrency),
            running: l.running,
            waiting: l.waiting,
        })
        .collect()
}
