//! Per-document caps beside async-graphql's own depth, complexity and directive limits: the
//! root fields (aliases included) of an operation, fewer without a credential, so that one
//! document cannot carry thousands of `endSession` calls.

use std::{collections::HashMap, sync::Arc};

use async_graphql::{
    Name, ServerError, ServerResult, Variables,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery},
    parser::types::{ExecutableDocument, Selection, SelectionSet},
};

use crate::domain::Caller;

/// Root fields (each alias counts) one operation may select with a credential.
pub const MAX_ROOT_FIELDS: usize = 20;
/// Root fields one operation may select without a credential: a few `heartbeat` or
/// `endSession` calls, not thousands.
pub const MAX_ANONYMOUS_ROOT_FIELDS: usize = 5;

pub struct RootFields;

impl ExtensionFactory for RootFields {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RootFields)
    }
}

#[async_trait::async_trait]
impl Extension for RootFields {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let (max, who) = match ctx.data_opt::<Caller>() {
            Some(_) => (MAX_ROOT_FIELDS, "an operation"),
            None => (
                MAX_ANONYMOUS_ROOT_FIELDS,
                "an operation without a credential",
            ),
        };
        for (_, operation) in document.operations.iter() {
            let fields = count(
                &operation.node.selection_set.node,
                &document,
                &mut Known::new(),
            );
            if fields > max {
                return Err(ServerError::new(
                    format!(
                        "{who} may select at most {max} root fields (aliases count); this one \
                         selects {fields}: split it into several requests"
                    ),
                    Some(operation.pos),
                ));
            }
        }
        Ok(document)
    }
}

/// The fields a selection set selects at its own level, through fragments. Each fragment is
/// counted once (a fragment spread many times costs nothing more to count; a fragment cycle is
/// a validation error later and counts nothing here).
fn count(set: &SelectionSet, document: &ExecutableDocument, known: &mut Known) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(_) => 1,
            Selection::InlineFragment(fragment) => {
                count(&fragment.node.selection_set.node, document, known)
            }
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                if let Some(fields) = known.get(name) {
                    return *fields;
                }
                known.insert(name.clone(), 0);
                let fields = document.fragments.get(name).map_or(0, |fragment| {
                    count(&fragment.node.selection_set.node, document, known)
                });
                known.insert(name.clone(), fields);
                fields
            }
        })
        .fold(0, usize::saturating_add)
}

type Known = HashMap<Name, usize>;

/// Fields a document may select with every fragment spread in place.
pub const MAX_EXPANDED_FIELDS: usize = 10_000;

/// Checks a request's document before it is executed: async-graphql's own parse step walks
/// every fragment spread again, without memory, so a small document of nested spreads would
/// cost exponential time there. The document is parsed once, here, and kept in the request for
/// the execution. A document that does not parse is left to the execution's own error.
pub fn check_document(request: &mut async_graphql::Request) -> ServerResult<()> {
    match request.parsed_query() {
        Ok(document) => check_expansion(document),
        Err(_) => Ok(()),
    }
}

/// Refuses a document whose fragments form a cycle or that selects more than
/// [`MAX_EXPANDED_FIELDS`] fields with its fragments spread in place. Each fragment is sized
/// once, so the check is linear in the document.
fn check_expansion(document: &ExecutableDocument) -> ServerResult<()> {
    let mut sizes = HashMap::new();
    for (_, operation) in document.operations.iter() {
        let fields = expanded(&operation.node.selection_set.node, document, &mut sizes)
            .map_err(|why| ServerError::new(why, Some(operation.pos)))?;
        if fields > MAX_EXPANDED_FIELDS {
            return Err(ServerError::new(
                format!(
                    "this operation selects {fields} fields with its fragments spread in place; \
                     at most {MAX_EXPANDED_FIELDS} are allowed"
                ),
                Some(operation.pos),
            ));
        }
    }
    Ok(())
}

/// A selection set's fields with fragments in place; `None` in `sizes` marks a fragment being
/// sized (met again: a cycle).
fn expanded(
    set: &SelectionSet,
    document: &ExecutableDocument,
    sizes: &mut HashMap<Name, Option<usize>>,
) -> Result<usize, String> {
    let mut total = 0usize;
    for item in &set.items {
        let size = match &item.node {
            Selection::Field(field) => {
                1usize.saturating_add(expanded(&field.node.selection_set.node, document, sizes)?)
            }
            Selection::InlineFragment(fragment) => {
                expanded(&fragment.node.selection_set.node, document, sizes)?
            }
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                match sizes.get(name) {
                    Some(Some(size)) => *size,
                    Some(None) => return Err(format!("fragment {name} spreads itself")),
                    None => {
                        sizes.insert(name.clone(), None);
                        let size = match document.fragments.get(name) {
                            Some(fragment) => {
                                expanded(&fragment.node.selection_set.node, document, sizes)?
                            }
                            None => 0,
                        };
                        sizes.insert(name.clone(), Some(size));
                        size
                    }
                }
            }
        };
        total = total.saturating_add(size);
        if total > MAX_EXPANDED_FIELDS {
            return Ok(total);
        }
    }
    Ok(total)
}

/// With `INTROSPECTION=0`: a document asking for the schema is refused with a clear error
/// (async-graphql alone would answer `null`).
pub struct NoIntrospection;

impl ExtensionFactory for NoIntrospection {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(NoIntrospection)
    }
}

#[async_trait::async_trait]
impl Extension for NoIntrospection {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        for (_, operation) in document.operations.iter() {
            let asks = operation.node.selection_set.node.items.iter().any(|item| {
                matches!(&item.node, Selection::Field(field)
                    if matches!(field.node.name.node.as_str(), "__schema" | "__type"))
            });
            if asks {
                return Err(ServerError::new(
                    "introspection is off on this server (INTROSPECTION=0): the schema is \
                     published as schema.graphql",
                    Some(operation.pos),
                ));
            }
        }
        Ok(document)
    }
}
