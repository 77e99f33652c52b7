//! One record, compactly: a slot of the slab, and what few records keep
//! beside it.

#![allow(unused_imports)]

use super::*;

pub(crate) struct Slot {
    pub(crate) token: LeaseToken,
    pub(crate) digest: [u8; 32],
    pub(crate) lease_until_ms: u64,
    pub(crate) expires_at_s: u64,
    pub(crate) extra: Option<Box<Extra>>,
    pub(crate) ns: u32,
    pub(crate) flags: u8,
    pub(crate) data_len: u8,
    pub(crate) inline: [u8; INLINE],
}

/// What few records have: a key not of the canonical form, a fingerprint,
/// a result too long to inline, and, once a completed record has been
/// replayed, the [`Record`] handed out, so later replays copy nothing.
#[derive(Default)]
pub(crate) struct Extra {
    pub(crate) key: Option<Box<str>>,
    pub(crate) fingerprint: Option<Fingerprint>,
    pub(crate) data: Option<Box<str>>,
    pub(crate) shared: Option<Arc<Record>>,
}

pub(crate) const FREE: u32 = u32::MAX;
pub(crate) const OTHER_KEY: u32 = u32::MAX - 1;

pub(crate) mod flag {
    pub(crate) const COMPLETED: u8 = 1;
    /// The result is inline (`data_len` bytes).
    pub(crate) const INLINE_DATA: u8 = 2;
    /// The result is in `extra.data`.
    pub(crate) const EXTRA_DATA: u8 = 4;
}

impl Slot {
    pub(crate) fn new(
        ns: u32,
        digest: [u8; 32],
        request: &ClaimRequest<'_>,
        key: Option<&str>,
    ) -> Self {
        let mut slot = Slot {
            token: request.token,
            digest,
            lease_until_ms: request.lease_until_ms,
            expires_at_s: request.expires_at_s,
            extra: None,
            ns,
            flags: 0,
            data_len: 0,
            inline: [0; INLINE],
        };
        if key.is_some() || request.fingerprint.is_some() {
            slot.extra = Some(Box::new(Extra {
                key: key.map(Box::from),
                fingerprint: request.fingerprint.cloned(),
                data: None,
                shared: None,
            }));
        }
        slot
    }

    pub(crate) fn status(&self) -> Status {
        if self.flags & flag::COMPLETED != 0 {
            Status::Completed
        } else {
            Status::InProgress
        }
    }

    pub(crate) fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_at_s.saturating_mul(1000) <= now_ms
    }

    pub(crate) fn is_claimable(&self, now_ms: u64) -> bool {
        self.is_expired(now_ms)
            || (self.status() == Status::InProgress && self.lease_until_ms <= now_ms)
    }

    pub(crate) fn held_by(&self, lease: &Lease) -> bool {
        lease.token.is_some_and(|token| token == self.token)
    }

    pub(crate) fn set_data(&mut self, data: Option<&str>) {
        self.flags &= !(flag::INLINE_DATA | flag::EXTRA_DATA);
        if let Some(extra) = self.extra.as_mut() {
            extra.data = None;
            extra.shared = None;
        }
        match data {
            Some(d) if d.len() <= INLINE => {
                self.inline[..d.len()].copy_from_slice(d.as_bytes());
                self.data_len = d.len() as u8;
                self.flags |= flag::INLINE_DATA;
            }
            Some(d) => {
                self.extra.get_or_insert_with(Box::default).data = Some(d.into());
                self.flags |= flag::EXTRA_DATA;
            }
            None => {}
        }
    }

    pub(crate) fn data(&self) -> Option<String> {
        if self.flags & flag::INLINE_DATA != 0 {
            let bytes = &self.inline[..usize::from(self.data_len)];
            // Written from a `&str`, so always UTF-8.
            return std::str::from_utf8(bytes).ok().map(String::from);
        }
        if self.flags & flag::EXTRA_DATA != 0 {
            return self
                .extra
                .as_ref()
                .and_then(|e| e.data.as_deref().map(String::from));
        }
        None
    }

    /// The record a claim hands out: built once for a completed record and
    /// kept (completed records change only by being replaced or removed).
    pub(crate) fn shared_record(&mut self, key: &str) -> Arc<Record> {
        if self.status() != Status::Completed {
            return Arc::new(self.record(key));
        }
        if let Some(shared) = self.extra.as_ref().and_then(|e| e.shared.as_ref()) {
            return Arc::clone(shared);
        }
        let shared = Arc::new(self.record(key));
        self.extra.get_or_insert_with(Box::default).shared = Some(Arc::clone(&shared));
        shared
    }

    /// The record as the `Store` trait hands it out, under its stored `key`.
    pub(crate) fn record(&self, key: &str) -> Record {
        Record {
            key: key.to_owned(),
            status: self.status(),
            expires_at_s: self.expires_at_s,
            lease: Some(Lease::new(self.token, self.lease_until_ms)),
            fingerprint: self.extra.as_ref().and_then(|e| e.fingerprint.clone()),
            data: self.data(),
        }
    }
}
