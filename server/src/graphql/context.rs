//! What resolvers take from the request's context, and how service results become GraphQL
//! errors.

use std::sync::Arc;

use async_graphql::{Context, ErrorExtensions};

use crate::{
    config::Settings,
    domain::Caller,
    services::{ServiceError, Tracker, notifications::Notifier},
};

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

pub fn tracker<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Arc<Tracker>> {
    ctx.data::<Arc<Tracker>>()
}

pub fn notifier<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Notifier> {
    ctx.data::<Arc<Notifier>>().map(Arc::as_ref)
}

pub fn settings<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Settings> {
    ctx.data::<Arc<Settings>>().map(Arc::as_ref)
}

/// The authenticated caller, or `UNAUTHENTICATED`.
pub fn caller(ctx: &Context<'_>) -> async_graphql::Result<Caller> {
    ctx.data_opt::<Caller>()
        .copied()
        .ok_or_else(|| service_error(ServiceError::Unauthenticated))
}
