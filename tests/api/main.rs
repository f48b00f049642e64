//! Integration tests over HTTP against real PostgreSQL: each test gets a fresh, migrated
//! database from `#[sqlx::test]` and a server on a free port.

mod arms;
mod auth;
mod dashboard;
mod demo;
mod events;
mod experiments;
mod faults;
mod hardening;
mod health;
mod helpers;
mod holdouts;
mod layers;
mod lifecycle;
mod middleware;
mod ofrep;
mod pages;
mod results;
mod runtime;
mod tokens;
