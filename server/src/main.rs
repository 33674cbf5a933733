#[global_allocator]
static ALLOCATOR: zoomtrack_server::Allocator = zoomtrack_server::Allocator;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    zoomtrack_server::cli::main().await
}
