//! Fingerprints of the payload parts a replay is validated against.

use std::borrow::Cow;

use serde::Serialize;

use super::encoder::{encode, HashError};
use super::{push_hex, KeyBuilder, KeyError, FINGERPRINT_KEY};

/// Hashes payload parts into a fingerprint (`validate = …`): a replay whose
/// fingerprint differs from the saved one is a `PayloadMismatch`.
///
/// Unlike key parts, missing values are allowed: `None` is a legitimate
/// payload value.
///
/// ```
/// use idem_core::Fingerprint;
///
/// let a = Fingerprint::builder().part(&("EUR", 1250)).finish()?;
/// let b = Fingerprint::builder().part(&("EUR", 1250u64)).finish()?;
/// assert_eq!(a, b);
/// # Ok::<(), idem_core::KeyError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// Starts a fingerprint.
    ///
    /// ```
    /// let empty = idem_core::Fingerprint::builder().finish()?;
    /// assert_eq!(empty.as_str().len(), 64);
    /// # Ok::<(), idem_core::KeyError>(())
    /// ```
    pub fn builder() -> FingerprintBuilder {
        FingerprintBuilder(KeyBuilder::new(Cow::Borrowed(""), &FINGERPRINT_KEY))
    }

    /// Wraps a fingerprint read back from a store.
    ///
    /// ```
    /// use idem_core::Fingerprint;
    ///
    /// let computed = Fingerprint::builder().part(&1250).finish()?;
    /// let stored = computed.as_str().to_owned(); // as a store keeps it
    /// assert_eq!(Fingerprint::from_stored(stored), computed);
    /// # Ok::<(), idem_core::KeyError>(())
    /// ```
    pub fn from_stored(hex: impl Into<String>) -> Self {
        Fingerprint(hex.into())
    }

    /// The stored form: 64 hex digits.
    ///
    /// ```
    /// let fp = idem_core::Fingerprint::builder().part("payload").finish()?;
    /// assert!(fp.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
    /// # Ok::<(), idem_core::KeyError>(())
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Hashes the parts of a [`Fingerprint`].
///
/// ```
/// use idem_core::Fingerprint;
///
/// let a = Fingerprint::builder().part(&"EUR").part(&1250).finish()?;
/// let b = Fingerprint::builder().part(&"EUR").part(&1251).finish()?;
/// assert_ne!(a, b);
/// # Ok::<(), idem_core::KeyError>(())
/// ```
#[derive(Clone, Debug)]
pub struct FingerprintBuilder(KeyBuilder);

impl FingerprintBuilder {
    /// Hashes one payload part. Unlike key parts, `None` is a value here.
    ///
    /// ```
    /// use idem_core::Fingerprint;
    ///
    /// let none = Fingerprint::builder().part(&None::<u64>).finish()?;
    /// let zero = Fingerprint::builder().part(&Some(0u64)).finish()?;
    /// assert_ne!(none, zero);
    /// # Ok::<(), idem_core::KeyError>(())
    /// ```
    pub fn part<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        self.add(value);
        self
    }

    // The work of `part`, by reference, as `KeyBuilder::add`.
    pub(crate) fn add<T: Serialize + ?Sized>(&mut self, value: &T) {
        if self.0.error.is_none() {
            if let Err(HashError::Custom(reason)) = encode(&mut self.0.hasher, value, false) {
                self.0.error = Some(Box::new(KeyError::Unhashable {
                    namespace: String::new(),
                    part: "validate".to_owned(),
                    reason,
                }));
            }
        }
    }

    /// The fingerprint, or why a part could not be hashed.
    ///
    /// ```
    /// use std::collections::HashMap;
    ///
    /// let mut a = HashMap::new();
    /// a.insert("sku", 1);
    /// a.insert("qty", 2);
    /// let mut b = HashMap::new();
    /// b.insert("qty", 2);
    /// b.insert("sku", 1);
    /// let fa = idem_core::Fingerprint::builder().part(&a).finish()?;
    /// let fb = idem_core::Fingerprint::builder().part(&b).finish()?;
    /// assert_eq!(fa, fb); // maps are order-independent
    /// # Ok::<(), idem_core::KeyError>(())
    /// ```
    pub fn finish(mut self) -> Result<Fingerprint, KeyError> {
        match self.0.error {
            Some(e) => Err(*e),
            None => {
                let mut hex = String::with_capacity(64);
                push_hex(&mut hex, self.0.hasher.finish().as_bytes());
                Ok(Fingerprint(hex))
            }
        }
    }
}
