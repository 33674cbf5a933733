//! The `zoomtrack` command: configuration from flags and the environment, logs, and a graceful
//! stop on Ctrl-C or SIGTERM.

use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::{Application, Config};

/// Runs the server until Ctrl-C or SIGTERM; everything it answered is stored when it returns.
pub async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        // Colours for a terminal only: a log file or collector gets plain text.
        .with_ansi(std::io::stdout().is_terminal())
        .init();
    let app = Application::build(Config::parse()).await?;
    if let Some(token) = &app.generated_admin_token {
        println!(
            "\nFirst start: an admin credential was created. It is shown only this once:\n\n    \
             ADMIN TOKEN: {token}\n\nSend it as `Authorization: Bearer <token>`.\n"
        );
    }
    tracing::info!(
        public_base_url = %app.settings().public_base_url,
        "zoomtrack is ready"
    );
    app.run_until(shutdown_signal()).await
}

/// Ctrl-C or SIGTERM: stop taking requests, finish those in flight, then exit.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down");
}
