//! Running the body under a claim: renewing the lease while it runs, saving
//! its result, and releasing the claim after an error, a panic or a
//! cancellation.

use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::call::Call;
use super::policy::OnCancel;
use super::release::ReleaseOnDrop;
use super::retry;
use crate::context;
use crate::key::Fingerprint;
use crate::store::{Completion, Lease, StoreError};
use crate::telemetry::{self, Label};

impl Call<'_> {
    pub(crate) async fn run_body<T, E, F, Fut>(
        &self,
        lease: Lease,
        body: F,
    ) -> (Label, Result<T, E>)
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        // Armed until the body has ended: dropped before that (the caller
        // left), it releases the claim.
        let mut guard = ReleaseOnDrop::new(self.store.get(), self.key.storage_key(), &lease);
        if self.on_cancel == OnCancel::Keep {
            guard.disarm();
        }
        // In a block, so the body's future is gone from this one's while
        // the result is saved (it kept the future 30 % larger).
        let ended = {
            let body = CatchUnwind {
                inner: context::scope(self.key.clone(), body()),
            };
            tokio::pin!(body);
            tokio::select! {
                biased;
                ended = &mut body => ended,
                never = self.renew(&lease) => match never {},
            }
        };
        let key = self.key.storage_key();
        match ended {
            Ok(Ok(value)) => {
                // The effect happened: from here on nothing may release the
                // claim (a release would let a duplicate run it again).
                guard.disarm();
                self.save(&lease, &value).await;
                (Label::Executed, Ok(value))
            }
            Ok(Err(e)) => {
                self.release(key, &lease).await;
                guard.disarm();
                (Label::BodyError, Err(e))
            }
            Err(panic) => {
                self.release(key, &lease).await;
                guard.disarm();
                resume_unwind(panic)
            }
        }
    }

    async fn release(&self, key: &str, lease: &Lease) {
        if let Err(e) = retry::release(self.store.get(), key, lease).await {
            telemetry::store_error(self.key.namespace_cow());
            tracing::warn!(
                error = %e,
                "releasing the claim after a failed body failed; it lapses with its lease"
            );
        }
    }

    /// Keeps the claim alive while the body runs: renews every third of the
    /// lease, up to the deadline. Never returns.
    async fn renew(&self, lease: &Lease) -> std::convert::Infallible {
        let mut until = lease.until_ms;
        let every = (self.lease / 3).max(Duration::from_millis(10));
        let mut renewing = true;
        loop {
            tokio::time::sleep(every).await;
            if !renewing {
                continue;
            }
            let next = self.lease_until(self.now_ms());
            if next <= until {
                // The deadline caps the lease: nothing more to renew.
                renewing = false;
                continue;
            }
            match self
                .store
                .get()
                .extend(self.key.storage_key(), lease, next)
                .await
            {
                Ok(()) => until = next,
                Err(StoreError::LeaseLost) => {
                    tracing::warn!("lease lost while the body runs: another run took the key over");
                    renewing = false;
                }
                Err(e) => {
                    telemetry::store_error(self.key.namespace_cow());
                    tracing::warn!(error = %e, "renewing the lease failed; retrying");
                }
            }
        }
    }

    /// Saves the result. The body's effect has happened, so from here on no
    /// failure may turn into an error for the caller or a re-run: a result too
    /// large (or impossible) to save is saved as "completed, no data", and a
    /// failing `complete` is logged and counted.
    async fn save<T: Serialize + DeserializeOwned>(&self, lease: &Lease, value: &T) {
        let data = encode(value).filter(|d| {
            let fits = self
                .store
                .get()
                .max_data_bytes()
                .is_none_or(|limit| d.len() <= limit);
            if !fits {
                tracing::warn!(
                    bytes = d.len(),
                    "the result is too large for the store; saving it as not replayable"
                );
            }
            fits
        });
        let mut completion = Completion {
            key: self.key.storage_key(),
            lease,
            data: data.as_deref(),
            fingerprint: self.fingerprint.as_ref(),
            expires_at_s: self.expires_at_s(self.now_ms()),
        };
        let mut outcome = retry::complete(self.store.get(), completion.clone()).await;
        if let Err(StoreError::TooLarge { size, limit }) = outcome {
            tracing::warn!(
                size,
                limit,
                "the store refused the result as too large; saving it as not replayable"
            );
            completion.data = None;
            outcome = retry::complete(self.store.get(), completion).await;
        }
        if let Err(e) = outcome {
            telemetry::complete_failure(self.key.namespace_cow());
            tracing::warn!(
                error = %e,
                "saving the result failed; the caller still gets it, and the claim lapses with its lease"
            );
        }
        if let Some(data) = data {
            crate::pool::give(data.into_bytes());
        }
    }
}

/// The result as JSON, if JSON holds it faithfully. Written into the
/// thread's pooled vector (which `save` hands back), so a result's JSON does
/// not grow a new string from empty on every call.
///
/// serde_json writes NaN and ±infinity as `null`, so `Some(f64::NAN)` would
/// replay as `None` and a bare NaN would fail every replay. Only JSON with a
/// `null` token in it can have lost such a value: that JSON is decoded again
/// and must hash like the value itself, or the result is saved as not
/// replayable (`ReplayUnavailable`), never as another value. A `null` inside
/// a string (`"nullable"`, a body saved as text) is no such token.
fn encode<T: Serialize + DeserializeOwned>(value: &T) -> Option<String> {
    let mut bytes = crate::pool::take();
    let json = match serde_json::to_writer(&mut bytes, value) {
        // serde_json writes UTF-8; checked all the same, as no `unsafe` is allowed.
        Ok(()) => String::from_utf8(bytes).ok()?,
        Err(e) => {
            crate::pool::give(bytes);
            tracing::warn!(error = %e, "the result cannot be encoded as JSON; saving it as not replayable");
            return None;
        }
    };
    if !has_null_token(&json) || replays_as_itself(value, &json) {
        return Some(json);
    }
    tracing::warn!(
        "the result does not survive JSON (a NaN or an infinity?); saving it as not replayable"
    );
    None
}

/// Whether `json` holds a `null` outside its strings. The usual JSON has no
/// `null` text at all and is passed by one fast search.
fn has_null_token(json: &str) -> bool {
    if !json.contains("null") {
        return false;
    }
    let bytes = json.as_bytes();
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        match (in_string, bytes[i]) {
            (true, b'\\') => i += 1, // the escaped byte cannot end the string
            (_, b'"') => in_string = !in_string,
            (false, b'n') if bytes[i..].starts_with(b"null") => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

fn replays_as_itself<T: Serialize + DeserializeOwned>(value: &T, json: &str) -> bool {
    let Ok(decoded) = serde_json::from_str::<T>(json) else {
        return false;
    };
    let digest = |v: &T| Fingerprint::builder().part(v).finish().ok();
    match (digest(value), digest(&decoded)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

pin_project_lite::pin_project! {
    /// Polls the body inside `catch_unwind`, so a panic can release the
    /// claim before it goes on to the caller.
    struct CatchUnwind<F> {
        #[pin]
        inner: F,
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn std::any::Any + Send>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.project().inner;
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::has_null_token;

    #[test]
    fn only_a_null_outside_strings_is_a_null_token() {
        for (json, token) in [
            (r#"{"a":1}"#, false),
            (r#""null""#, false),
            (r#"{"nullable":"null","b":"x\"null"}"#, false),
            (r#"["\\",null]"#, true),
            (r#"["\\\"null"]"#, false),
            (r#"[1,null]"#, true),
            (r#"{"a":"null","b":null}"#, true),
            ("null", true),
        ] {
            assert_eq!(has_null_token(json), token, "{json}");
        }
    }
}
