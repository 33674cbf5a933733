//! The GraphQL API: thin resolvers over the service layer, split by domain.

mod context;
mod links;
mod people;
mod reports;
mod sessions;
mod types;

use std::sync::Arc;

use async_graphql::{MergedObject, MergedSubscription, Schema, SchemaBuilder};

pub use self::context::error;
use crate::{
    config::Settings,
    services::{Tracker, notifications::Notifier},
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

/// The schema, its resolvers reaching the tracker, the settings and the delivery job's handle.
pub fn schema(
    tracker: Arc<Tracker>,
    settings: Arc<Settings>,
    notifier: Arc<Notifier>,
) -> AppSchema {
    builder()
        .data(tracker)
        .data(settings)
        .data(notifier)
        .finish()
}

/// The API's SDL: what `schema.graphql` at the repository root must hold.
pub fn sdl() -> String {
    builder().finish().sdl()
}
