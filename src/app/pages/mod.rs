mod dashboard;
mod experiment;
mod login;
mod not_found;

pub use dashboard::Dashboard;
pub use experiment::ExperimentView;
pub use login::Login;
pub use not_found::NotFound;
