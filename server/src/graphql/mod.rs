//! The GraphQL API: thin resolvers over the service layer, split by domain.

mod links;
mod people;
pub mod reports;
mod sessions;
mod types;

use std::sync::Arc;

use async_graphql::{
    Context, ErrorExtensions, ID, MergedObject, MergedSubscription, Schema, SchemaBuilder,
};
use sea_orm::DatabaseConnection;

use crate::{
    domain::Caller, events::EventBus, jobs::notifier::Notifier, services::ServiceError,
    services::beats::Heartbeats, startup::Settings,
};

#[derive(MergedObject, Default)]
pub struct Query(people::PeopleQuery, reports::ReportQuery);

#[derive(MergedObject, Default)]
pub struct Mutation(
    people::PeopleMutation,
    links::LinkMutation,
    sessions::SessionMutation,
);

#[derive(MergedSubscription, Default)]
pub struct Subscription(reports::ReportSubscription);

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// Deeper or costlier documents are refused before they run.
pub const MAX_DEPTH: usize = 12;
pub const MAX_COMPLEXITY: usize = 5000;

fn builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY)
}

/// The connections reports read from (see [`crate::db::Pools`]).
pub struct ReadDb(pub DatabaseConnection);

pub fn schema(
    db: DatabaseConnection,
    read: DatabaseConnection,
    beats: Arc<Heartbeats>,
    settings: Arc<Settings>,
    events: Arc<EventBus>,
    notifier: Arc<Notifier>,
) -> AppSchema {
    builder()
        .data(db)
        .data(ReadDb(read))
        .data(beats)
        .data(settings)
        .data(events)
        .data(notifier)
        .finish()
}

/// The API's SDL: what `schema.graphql` at the repository root must hold.
pub fn sdl() -> String {
    builder().finish().sdl()
}

/// A GraphQL error with `extensions.code`.
pub fn error(code: &str, message: impl Into<String>) -> async_graphql::Error {
    let code = code.to_owned();
    async_graphql::Error::new(message).extend_with(move |_, ext| ext.set("code", code.clone()))
}

fn service_error(err: ServiceError) -> async_graphql::Error {
    if err.is_internal() {
        tracing::error!(error = %err, cause = ?err, "graphql operation failed");
    }
    error(err.code(), err.public_message())
}

/// `?` on a service result, keeping its code. (async-graphql's blanket `From<Display>` would
/// drop the code and show internal messages.)
pub trait Gql<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> Gql<T> for Result<T, ServiceError> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(service_error)
    }
}

fn db<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a DatabaseConnection> {
    ctx.data::<DatabaseConnection>()
}

fn read_db<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a DatabaseConnection> {
    ctx.data::<ReadDb>().map(|read| &read.0)
}

fn beats<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Heartbeats> {
    ctx.data::<Arc<Heartbeats>>().map(Arc::as_ref)
}

fn events<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a EventBus> {
    ctx.data::<Arc<EventBus>>().map(Arc::as_ref)
}

fn notifier<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Notifier> {
    ctx.data::<Arc<Notifier>>().map(Arc::as_ref)
}

fn settings<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Settings> {
    ctx.data::<Arc<Settings>>().map(Arc::as_ref)
}

/// The authenticated caller, or `UNAUTHENTICATED`.
fn caller(ctx: &Context<'_>) -> async_graphql::Result<Caller> {
    ctx.data_opt::<Caller>()
        .copied()
        .ok_or_else(|| service_error(ServiceError::Unauthenticated))
}

fn parse_id(id: &ID, what: &str) -> async_graphql::Result<i64> {
    id.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| error("BAD_USER_INPUT", format!("{what} is not a valid id")))
}
