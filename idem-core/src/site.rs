//! Call sites of `#[idempotent]`: two different functions that end up with
//! one namespace in one process would read each other's records, so the
//! second one to run fails loudly instead.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::error::Error;

/// One `#[idempotent]` function, named by where it is written. The
/// expansion keeps one in a `static`. Not public API.
#[doc(hidden)]
#[derive(Debug)]
pub struct Site {
    location: &'static str,
    /// Set once this site's namespace is known to be its own: from then on
    /// a call pays one atomic load.
    registered: AtomicBool,
    method_namespace: OnceLock<&'static str>,
}

/// Which site first used each namespace in this process.
static OWNERS: OnceLock<Mutex<HashMap<String, &'static str>>> = OnceLock::new();

impl Site {
    /// The site at `location` (`file:line:column`).
    pub const fn new(location: &'static str) -> Self {
        Site {
            location,
            registered: AtomicBool::new(false),
            method_namespace: OnceLock::new(),
        }
    }

    /// The default namespace of a method: `module::Type::method`, with the
    /// `Self` type's own name (its path and generic arguments left out, so
    /// the namespace does not depend on how the compiler spells paths, and
    /// every instance of a generic impl shares one). Made once per site.
    pub fn method_namespace(
        &'static self,
        module: &'static str,
        self_type: &'static str,
        method: &'static str,
    ) -> &'static str {
        self.method_namespace.get_or_init(|| {
            let path = self_type.split('<').next().unwrap_or(self_type);
            let name = path.rsplit("::").next().unwrap_or(path);
            // Once per site, for the life of the process.
            Box::leak(format!("{module}::{name}::{method}").into_boxed_str())
        })
    }

    /// Claims `namespace` for this site, or says which other site has it.
    #[inline]
    pub(crate) fn register(&'static self, namespace: &str) -> Result<(), Error> {
        if self.registered.load(Ordering::Acquire) {
            return Ok(());
        }
        self.register_slow(namespace)
    }

    #[cold]
    fn register_slow(&'static self, namespace: &str) -> Result<(), Error> {
        let owners = OWNERS.get_or_init(Default::default);
        let mut owners = owners.lock().unwrap_or_else(|p| p.into_inner());
        let owner = *owners.entry(namespace.to_owned()).or_insert(self.location);
        if owner == self.location {
            self.registered.store(true, Ordering::Release);
            Ok(())
        } else {
            Err(Error::NamespaceClash {
                namespace: namespace.to_owned(),
                first: owner,
                second: self.location,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_method_namespace_names_the_type_without_path_or_generics() {
        static SITE: Site = Site::new("src/billing.rs:10:5");
        let ns = SITE.method_namespace(
            "shop::billing",
            "shop::billing::Stripe<u32, Vec<u8>>",
            "charge",
        );
        assert_eq!(ns, "shop::billing::Stripe::charge");
    }

    #[test]
    fn a_second_site_with_the_same_namespace_is_a_clash_naming_both() {
        static FIRST: Site = Site::new("a.rs:1:1");
        static SECOND: Site = Site::new("b.rs:2:2");
        assert!(FIRST.register("site-tests::clash").is_ok());
        assert!(FIRST.register("site-tests::clash").is_ok());
        match SECOND.register("site-tests::clash") {
            Err(Error::NamespaceClash { first, second, .. }) => {
                assert_eq!((first, second), ("a.rs:1:1", "b.rs:2:2"));
            }
            other => panic!("{other:?}"),
        }
        // The first site keeps working.
        assert!(FIRST.register("site-tests::clash").is_ok());
    }
}
