//! Who is calling and what they may do. Pure rules; the server authenticates.

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
    /// May read experiments of `tenant` (others' are reported as not found).
    pub fn can_see(&self, tenant: &str) -> bool {
        match self.role {
            Role::SuperAdmin => true,
            Role::Admin | Role::Viewer => self.tenant_id.as_deref() == Some(tenant),
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

    /// May call the runtime API (resolve, events) for users of `tenant`.
    pub fn can_run(&self, tenant: &str) -> bool {
        match self.role {
            Role::SuperAdmin => true,
            Role::Service | Role::Admin => self.tenant_id.as_deref() == Some(tenant),
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
