//! Who is calling and what they may do. Pure rules; the server authenticates.

use crate::domain::experiment::SYSTEM_TENANT;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// What a token may do.
///
/// - `super_admin`: everything, in every tenant; approves experiments.
/// - `admin`: manages the experiments of its tenant.
/// - `viewer`: reads the experiments of its tenant.
/// - `service`: only the runtime calls (resolve, events) of its tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    SuperAdmin,
    Admin,
    Viewer,
    Service,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::SuperAdmin, Role::Admin, Role::Viewer, Role::Service];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::SuperAdmin => "super_admin",
            Role::Admin => "admin",
            Role::Viewer => "viewer",
            Role::Service => "service",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!("unknown role {s:?}; expected super_admin, admin, viewer or service")
            })
    }
}

/// What every Verdict API token starts with (recognisable by secret scanners).
pub const TOKEN_PREFIX: &str = "vdt_";
/// Hex digits of the random part of a token, and of a session's cookie value (256 bits).
const SECRET_HEX: usize = 64;

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether `text` has the form of a Verdict token (`vdt_` and 64 hex digits): anything else
/// is refused without asking the database.
pub fn looks_like_token(text: &str) -> bool {
    text.strip_prefix(TOKEN_PREFIX)
        .is_some_and(|rest| rest.len() == SECRET_HEX && is_lower_hex(rest))
}

/// Whether `text` has the form of a session cookie's value (64 hex digits).
pub fn looks_like_session(text: &str) -> bool {
    text.len() == SECRET_HEX && is_lower_hex(text)
}

/// The stored form of a token or a session: SHA-256 of its text. Both carry 256 random bits,
/// so a fast hash is enough (no password stretching needed).
pub fn hash_secret(secret: &str) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// When a token given `--expires text` stops working: a duration from `now` (`90d`, `12h`,
/// `30m`) or an RFC 3339 time, which must be in the future.
pub fn parse_expiry(
    text: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let text = text.trim();
    let at = if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        t.with_timezone(&chrono::Utc)
    } else {
        let (number, unit) = text.split_at(text.len().saturating_sub(1));
        let n: i64 = number.parse().map_err(|_| {
            format!("{text:?} is neither a duration like 90d, 12h, 30m nor an RFC 3339 time")
        })?;
        let span = match unit {
            "d" if n <= 36_500 => chrono::Duration::days(n),
            "h" if n <= 876_000 => chrono::Duration::hours(n),
            "m" if n <= 52_560_000 => chrono::Duration::minutes(n),
            "d" | "h" | "m" => return Err(format!("{text:?} is more than a hundred years")),
            _ => return Err(format!("{text:?}: the unit is d, h or m")),
        };
        now + span
    };
    if at <= now {
        return Err(format!("{text:?} is not in the future"));
    }
    Ok(at)
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Principal {
    pub token_id: Uuid,
    pub role: Role,
    /// `None` only for a super_admin spanning every tenant.
    pub tenant_id: Option<String>,
    /// How the audit log and `createdBy` name this caller: the token's label and prefix.
    pub actor: String,
}

impl Principal {
    /// Whether this caller's own tenant is `tenant`. The `system` tenant (of system-wide
    /// experiments) is never anyone's own: only a super_admin reaches it.
    fn owns(&self, tenant: &str) -> bool {
        tenant != SYSTEM_TENANT && self.tenant_id.as_deref() == Some(tenant)
    }

    /// May read experiments of `tenant` (others' are reported as not found).
    pub fn can_see(&self, tenant: &str) -> bool {
        match self.role {
            Role::SuperAdmin => true,
            Role::Admin | Role::Viewer => self.owns(tenant),
            Role::Service => false,
        }
    }

    /// May read experiments at all (everyone but the runtime's service tokens).
    pub fn can_read(&self) -> bool {
        self.role != Role::Service
    }

    /// May create and change experiments (of the tenants it sees).
    pub fn can_manage(&self) -> bool {
        matches!(self.role, Role::SuperAdmin | Role::Admin)
    }

    /// May approve experiments.
    pub fn can_approve(&self) -> bool {
        self.role == Role::SuperAdmin
    }

    /// May call the runtime API (resolve, events) at all, for some tenant.
    pub fn may_use_runtime(&self) -> bool {
        self.role != Role::Viewer
    }

    /// May call the runtime API (resolve, events) for users of `tenant`.
    pub fn can_run(&self, tenant: &str) -> bool {
        match self.role {
            Role::SuperAdmin => true,
            Role::Service | Role::Admin => self.owns(tenant),
            Role::Viewer => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(role: Role, tenant: Option<&str>) -> Principal {
        Principal {
            token_id: Uuid::nil(),
            role,
            tenant_id: tenant.map(str::to_owned),
            actor: "t".into(),
        }
    }

    #[test]
    fn roles_parse_from_their_names_only() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().unwrap_err().contains("root"));
    }

    #[test]
    fn tenants_see_only_their_own_experiments_and_super_admins_all() {
        assert!(who(Role::SuperAdmin, None).can_see("acme"));
        assert!(who(Role::SuperAdmin, None).can_see("system"));
        assert!(who(Role::Admin, Some("acme")).can_see("acme"));
        assert!(!who(Role::Admin, Some("acme")).can_see("globex"));
        assert!(!who(Role::Admin, Some("acme")).can_see("system"));
        assert!(who(Role::Viewer, Some("acme")).can_see("acme"));
        assert!(!who(Role::Service, Some("acme")).can_see("acme"));
    }

    #[test]
    fn a_token_of_the_tenant_named_system_reaches_no_system_wide_experiment() {
        let sys = who(Role::Admin, Some("system"));
        assert!(!sys.can_see("system"));
        assert!(!sys.can_run("system"));
        assert!(!who(Role::Service, Some("system")).can_run("system"));
    }

    #[test]
    fn only_texts_of_a_tokens_or_a_sessions_form_are_looked_up() {
        let token = format!("vdt_{}", "0123456789abcdef".repeat(4));
        assert!(looks_like_token(&token));
        assert!(!looks_like_token("x"));
        assert!(!looks_like_token(&token.to_uppercase()));
        assert!(!looks_like_token(&format!("{token}0")));
        assert!(!looks_like_token(&token[4..]));
        assert!(looks_like_session(&token[4..]));
        assert!(!looks_like_session(&token));
        assert!(!looks_like_session("g".repeat(64).as_str()));
    }

    #[test]
    fn an_expiry_is_a_duration_from_now_or_a_time_in_the_future() {
        let now: chrono::DateTime<chrono::Utc> = "2026-12-02T00:00:00Z".parse().unwrap();
        assert_eq!(
            parse_expiry("90d", now).unwrap(),
            "2027-03-02T00:00:00Z"
                .parse::<chrono::DateTime<chrono::Utc>>()
                .unwrap()
        );
        assert_eq!(
            parse_expiry("12h", now).unwrap(),
            now + chrono::Duration::hours(12)
        );
        assert_eq!(
            parse_expiry("30m", now).unwrap(),
            now + chrono::Duration::minutes(30)
        );
        assert!(parse_expiry("2027-01-01T00:00:00Z", now).is_ok());
        for bad in [
            "0d",
            "-1d",
            "2026-01-01T00:00:00Z",
            "ten days",
            "5w",
            "",
            "99999999999d",
        ] {
            assert!(parse_expiry(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_secret_is_stored_as_its_sha256() {
        let digest: String = hash_secret("abc")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            digest,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn only_admins_manage_and_only_super_admins_approve() {
        assert!(who(Role::Admin, Some("a")).can_manage());
        assert!(!who(Role::Viewer, Some("a")).can_manage());
        assert!(!who(Role::Service, Some("a")).can_manage());
        assert!(who(Role::SuperAdmin, None).can_approve());
        assert!(!who(Role::Admin, Some("a")).can_approve());
        assert!(who(Role::Service, Some("a")).can_run("a"));
        assert!(!who(Role::Service, Some("a")).can_run("b"));
        assert!(!who(Role::Viewer, Some("a")).can_run("a"));
    }
}
