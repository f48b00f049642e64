//! Integration tests over HTTP against real PostgreSQL: each test gets a fresh, migrated
//! database from `#[sqlx::test]` and a server on a free port.

mod dashboard;
mod health;
mod helpers;
mod tokens;
