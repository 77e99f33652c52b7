//! The four Lua scripts, one per fenced step. Each touches one key, so it
//! runs on the node that owns the key's slot in a cluster.
//!
//! [`redis::Script`] sends `EVALSHA` and, when the server does not know the
//! script (`NOSCRIPT`: a restart, a failover, `SCRIPT FLUSH`, a new cluster
//! node), loads it and sends `EVALSHA` again.

use redis::Script;

/// The scripts, hashed once per store.
pub(crate) struct Scripts {
    pub(crate) claim: Script,
    pub(crate) complete: Script,
    pub(crate) release: Script,
    pub(crate) extend: Script,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        Scripts {
            claim: Script::new(include_str!("scripts/claim.lua")),
            complete: Script::new(include_str!("scripts/complete.lua")),
            release: Script::new(include_str!("scripts/release.lua")),
            extend: Script::new(include_str!("scripts/extend.lua")),
        }
    }
}

impl std::fmt::Debug for Scripts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scripts")
            .field("claim", &self.claim.get_hash())
            .field("complete", &self.complete.get_hash())
            .field("release", &self.release.get_hash())
            .field("extend", &self.extend.get_hash())
            .finish()
    }
}
