mod require_auth;
mod status_badge;

pub use require_auth::RequireAuth;
pub use status_badge::StatusBadge;
