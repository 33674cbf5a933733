#[tokio::main]
async fn main() -> anyhow::Result<()> {
    zoomtrack_server::cli::main().await
}
