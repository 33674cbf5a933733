//! The zoomtrack admin dashboard: a client-side Leptos app that speaks only the server's
//! GraphQL API (queries, mutations, subscriptions) and its CSV export.

mod api;
mod app;
mod charts;
mod context;
mod convert;
mod export;
mod format;
mod keys;
mod lesson;
mod live;
mod not_opened;
mod overview;
mod people;
mod session;
mod sessions;
mod state;
mod teachers;

fn main() {
    leptos::mount::mount_to_body(app::App);
}
