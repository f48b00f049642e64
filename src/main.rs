//! The `verdict` command: serve (default), migrate, token create/revoke, demo.

use clap::{Parser, Subcommand};
use verdict::domain::Role;
use verdict::server::{self, Application, Settings, db};
use verdict::service::tokens;

#[derive(Parser)]
#[command(
    name = "verdict",
    version,
    about = "Self-hosted A/B testing for AI features"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database and serve the UI and the API (the default).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Fill the database with sample experiments and simulated traffic.
    Demo,
    /// Events the fold could not add to the rollups (values stored before the bounds).
    Quarantine {
        #[command(subcommand)]
        command: Option<QuarantineCommand>,
    },
}

#[derive(Subcommand)]
enum QuarantineCommand {
    /// List the quarantined events (the default).
    List,
    /// Fold the quarantined events again, once repaired in `events`, and release them.
    Release,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token; it is printed once, as the last line of stdout.
    Create {
        /// super_admin, admin, viewer or service.
        #[arg(long)]
        role: Role,
        /// The tenant the token is limited to (all but super_admin need one).
        #[arg(long)]
        tenant: Option<String>,
        /// A note to tell tokens apart.
        #[arg(long, default_value = "")]
        label: String,
        /// When the token stops working: a duration from now (`90d`, `12h`, `30m`) or an
        /// RFC 3339 time. Never, when not given.
        #[arg(long)]
        expires: Option<String>,
    },
    /// Revoke a token, given its text or its id.
    Revoke { token: String },
}

#[tokio::main]
async fn main() {
    server::telemetry::init();
    let cli = Cli::parse();
    if let Err(err) = run(cli.command.unwrap_or(Command::Serve)).await {
        // One line, the cause chain joined by ": ", no backtrace.
        eprintln!("verdict: error: {err:#}");
        std::process::exit(1);
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let pool = db::connect(&settings.database_url).await?;
    match command {
        Command::Serve => {
            db::migrate(&pool).await?;
            let app = Application::build(&settings, pool).await?;
            tracing::info!(
                "Verdict listening on http://{}:{}",
                settings.addr.ip(),
                app.port()
            );
            app.run_until_stopped().await
        }
        Command::Migrate => {
            db::migrate(&pool).await?;
            println!(
                "database {} is up to date",
                db::describe(&settings.database_url)
            );
            Ok(())
        }
        Command::Token { command } => {
            db::migrate(&pool).await?;
            match command {
                TokenCommand::Create {
                    role,
                    tenant,
                    label,
                    expires,
                } => {
                    let expires_at = expires
                        .as_deref()
                        .map(|e| verdict::domain::auth::parse_expiry(e, chrono::Utc::now()))
                        .transpose()
                        .map_err(|e| anyhow::anyhow!("--expires: {e}"))?;
                    let token = tokens::create_expiring(&pool, role, tenant, &label, expires_at)
                        .await
                        .map_err(service_error)?;
                    println!(
                        "created {} token {} for {}{}",
                        token.role,
                        token.id,
                        token.tenant_id.as_deref().unwrap_or("all tenants"),
                        expires_at
                            .map(|at| format!(", expiring {}", at.to_rfc3339()))
                            .unwrap_or_default()
                    );
                    println!("{}", token.secret);
                    Ok(())
                }
                TokenCommand::Revoke { token } => {
                    tokens::revoke(&pool, &token).await.map_err(service_error)?;
                    println!("revoked");
                    Ok(())
                }
            }
        }
        Command::Quarantine { command } => {
            db::migrate(&pool).await?;
            match command.unwrap_or(QuarantineCommand::List) {
                QuarantineCommand::List => {
                    let rows = verdict::store::fold::quarantined(&pool, 10_000).await?;
                    for q in &rows {
                        println!(
                            "{}  experiment {}  tenant {:?} user {:?}  {}  ({})",
                            q.event_id,
                            q.experiment_id,
                            q.tenant_id,
                            q.user_id,
                            q.reason,
                            q.quarantined_at.to_rfc3339()
                        );
                    }
                    println!("{} quarantined events", rows.len());
                }
                QuarantineCommand::Release => {
                    let n = verdict::store::fold::release_quarantined(&pool)
                        .await
                        .map_err(|e| {
                            anyhow::anyhow!("the quarantined events still cannot be folded: {e}")
                        })?;
                    println!("released {n} events into the rollups");
                }
            }
            Ok(())
        }
        Command::Demo => {
            db::migrate(&pool).await?;
            let made = verdict::demo::run(&pool).await?;
            for (name, id) in &made {
                println!("{id}  {name}");
            }
            println!(
                "made {} demo experiments with traffic in tenant acme; open the dashboard to see them",
                made.len()
            );
            Ok(())
        }
    }
}

/// A token command's error: `NotFound` means the token, anything else as the service says.
fn service_error(err: verdict::service::ServiceError) -> anyhow::Error {
    match err {
        verdict::service::ServiceError::NotFound => {
            anyhow::anyhow!("no such token (or already revoked)")
        }
        other => other.into_anyhow(),
    }
}
