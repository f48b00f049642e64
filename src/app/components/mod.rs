mod status_badge;

pub use status_badge::StatusBadge;
