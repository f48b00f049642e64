//! Tests of the pure domain modules against numbers from elsewhere: statistics against
//! scipy/statsmodels fixtures, assignment against committed cross-SDK vectors.

mod assignment_ramp;
mod assignment_split_quality;
mod assignment_vectors;
mod common;
mod decision_simulation;
mod decision_simulation_arms;
mod layer_vectors;
mod stats_fixtures;
mod stats_robustness;
mod stats_sequential_simulation;
