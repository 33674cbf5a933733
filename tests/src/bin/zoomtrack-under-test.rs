//! The server as its own process, for tests that stop it with a signal or kill it.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    zoomtrack_server::cli::main().await
}
