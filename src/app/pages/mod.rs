mod dashboard;
mod login;
mod not_found;

pub use dashboard::Dashboard;
pub use login::Login;
pub use not_found::NotFound;
