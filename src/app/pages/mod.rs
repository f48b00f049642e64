mod dashboard;
mod experiment;
mod login;
mod not_found;
mod wizard;

pub use dashboard::Dashboard;
pub use experiment::ExperimentView;
pub use login::Login;
pub use not_found::NotFound;
pub use wizard::NewExperiment;
