use anyhow::Context;
use std::net::SocketAddr;

/// Settings read once at start-up from the environment (see README, "Configuration").
#[derive(Debug, Clone)]
pub struct Settings {
    /// `DATABASE_URL`.
    pub database_url: String,
    /// `LEPTOS_SITE_ADDR`: where the server listens.
    pub addr: SocketAddr,
    /// `VERDICT_REQUIRE_APPROVAL` (`true`/`1`): starting needs a super_admin's approval.
    pub require_approval: bool,
    /// `VERDICT_INSECURE_COOKIES` (`true`/`1`): plain-HTTP local use, where the session
    /// cookie cannot be `Secure` nor `__Host-` prefixed. Off by default.
    pub insecure_cookies: bool,
}

/// Used when `DATABASE_URL` is not set: the machine's own PostgreSQL.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/verdict";
/// Used when `LEPTOS_SITE_ADDR` is not set.
pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";

impl Settings {
    /// Reads the settings from the environment, with the documented defaults.
    pub fn from_env() -> anyhow::Result<Self> {
        let database_url = std::env::var("DATABASE_URL")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        let addr_text = std::env::var("LEPTOS_SITE_ADDR")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_ADDR.to_owned());
        let addr = addr_text.parse().with_context(|| {
            format!("LEPTOS_SITE_ADDR={addr_text:?} is not an address like 127.0.0.1:3000")
        })?;
        Ok(Self {
            database_url,
            addr,
            require_approval: flag("VERDICT_REQUIRE_APPROVAL")?,
            insecure_cookies: flag("VERDICT_INSECURE_COOKIES")?,
        })
    }
}

/// A true/false setting; unset is false.
fn flag(name: &str) -> anyhow::Result<bool> {
    match std::env::var(name) {
        Err(_) => Ok(false),
        Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
            "" | "0" | "false" | "no" | "off" => Ok(false),
            "1" | "true" | "yes" | "on" => Ok(true),
            other => anyhow::bail!("{name}={other:?} is not true or false"),
        },
    }
}
