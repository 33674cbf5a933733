//! The GraphQL API: thin resolvers over the service layer, split by domain.

mod context;
mod lessons;
mod limits;
mod links;
mod people;
mod reports;
mod sessions;
mod types;

use std::sync::Arc;

use async_graphql::{MergedObject, MergedSubscription, Schema, SchemaBuilder};

pub use self::{
    context::error,
    limits::{MAX_ANONYMOUS_ROOT_FIELDS, MAX_EXPANDED_FIELDS, MAX_ROOT_FIELDS, check_document},
};
use crate::{
    config::Settings,
    services::{Tracker, auth::Revocations, notifications::Notifier},
};

#[derive(MergedObject, Default)]
pub struct Query(
    people::PeopleQuery,
    reports::ReportQuery,
    lessons::LessonQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    people::PeopleMutation,
    links::LinkMutation,
    sessions::SessionMutation,
);

#[derive(MergedSubscription, Default)]
pub struct Subscription(reports::ReportSubscription);

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// Deeper or costlier documents are refused before they run. The depth admits the standard
/// introspection query that GraphQL tools send (its type references nest `ofType` nine deep
/// under a field's arguments: 15 levels).
pub const MAX_DEPTH: usize = 15;
pub const MAX_COMPLEXITY: usize = 5000;
/// Directives on one field at most.
pub const MAX_DIRECTIVES: usize = 4;

fn builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY)
    .limit_directives(MAX_DIRECTIVES)
    .extension(limits::RootFields)
}

/// The schema, its resolvers reaching the tracker, the settings and the delivery job's handle.
pub fn schema(
    tracker: Arc<Tracker>,
    settings: Arc<Settings>,
    notifier: Arc<Notifier>,
    revocations: Arc<Revocations>,
) -> AppSchema {
    let builder = builder();
    let builder = if settings.limits.introspection {
        builder
    } else {
        builder
            .disable_introspection()
            .extension(limits::NoIntrospection)
    };
    builder
        .data(tracker)
        .data(settings)
        .data(notifier)
        .data(revocations)
        .finish()
}

/// The schema with its limits and no data: documents are parsed and checked as in the server,
/// and every resolver refuses (for the SDL, and for fuzzing).
pub fn unbound() -> AppSchema {
    builder().finish()
}

/// The API's SDL: what `schema.graphql` at the repository root must hold.
pub fn sdl() -> String {
    unbound().sdl()
}
