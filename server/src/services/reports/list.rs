//! Pages of sessions in a chosen order, with opaque keyset cursors.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::NaiveDateTime;
use entity::{teacher, zoom_link};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, Order, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Select, Statement,
    sea_query::{Expr, ExprTrait, Func, SimpleExpr},
};
use serde::{Deserialize, Serialize};

use super::{filter::SessionFilter, stats::session_counts};
use crate::{
    domain::LinkId,
    services::{
        Result, ServiceError,
        view::{self, SessionView},
    },
};

/// The most rows one page returns.
pub const MAX_PAGE: u64 = 100;
pub const DEFAULT_PAGE: u64 = 20;

/// What a list is ordered by; ties are broken by id, in the same direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SortKey {
    #[default]
    Start,
    Duration,
    Teacher,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Sort {
    pub key: SortKey,
    pub descending: bool,
}

impl Sort {
    pub const NEWEST_FIRST: Sort = Sort {
        key: SortKey::Start,
        descending: true,
    };

    fn expr(self) -> SimpleExpr {
        match self.key {
            SortKey::Start => Expr::col((zoom_link::Entity, zoom_link::Column::ClickedAt)),
            // Sessions still running have no duration yet: they sort as -1.
            SortKey::Duration => Func::coalesce([
                SimpleExpr::from(Expr::col((
                    zoom_link::Entity,
                    zoom_link::Column::SessionDurationSeconds,
                ))),
                Expr::val(-1i64),
            ])
            .into(),
            SortKey::Teacher => Expr::col((teacher::Entity, teacher::Column::Name)),
        }
    }

    fn key_of(self, view: &SessionView) -> CursorKey {
        match self.key {
            SortKey::Start => CursorKey::Time(view.link.clicked_at.unwrap_or_default()),
            SortKey::Duration => CursorKey::Int(view.link.session_duration_seconds.unwrap_or(-1)),
            SortKey::Teacher => CursorKey::Text(view.teacher.name.clone()),
        }
    }
}

/// Where a page ends: the sort value and id of its last row, opaque to clients.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Cursor {
    sort: SortKey,
    desc: bool,
    key: CursorKey,
    id: i64,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
enum CursorKey {
    Int(i64),
    Time(NaiveDateTime),
    Text(String),
}

impl CursorKey {
    fn value(&self) -> sea_orm::Value {
        match self {
            CursorKey::Int(v) => (*v).into(),
            CursorKey::Time(v) => (*v).into(),
            CursorKey::Text(v) => v.clone().into(),
        }
    }
}

impl Cursor {
    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// An `after` cursor of a list in order `sort`.
    pub fn decode(text: &str, sort: Sort) -> Result<Self> {
        let bad = || ServiceError::BadInput("`after` is not a cursor from this list".into());
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        let kind_ok = matches!(
            (cursor.sort, &cursor.key),
            (SortKey::Start, CursorKey::Time(_))
                | (SortKey::Duration, CursorKey::Int(_))
                | (SortKey::Teacher, CursorKey::Text(_))
        );
        if cursor.sort != sort.key || cursor.desc != sort.descending || !kind_ok {
            return Err(ServiceError::BadInput(
                "`after` belongs to a list in another order".into(),
            ));
        }
        Ok(cursor)
    }
}

pub struct Page {
    pub rows: Vec<(String, SessionView)>,
    pub has_next: bool,
    pub has_previous: bool,
}

pub fn page_size(first: Option<i64>) -> Result<u64> {
    match first {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE as i64).contains(&n) => Ok(n as u64),
        Some(_) => Err(ServiceError::BadInput(format!(
            "first must be between 1 and {MAX_PAGE}"
        ))),
    }
}

fn list_select(
    filter: &SessionFilter,
    sort: Sort,
    after: Option<&Cursor>,
    limit: u64,
) -> Select<zoom_link::Entity> {
    let order = if sort.descending {
        Order::Desc
    } else {
        Order::Asc
    };
    let mut select = filter.sessions_joined(sort.key == SortKey::Teacher);
    if let Some(cursor) = after {
        let id = Expr::col((zoom_link::Entity, zoom_link::Column::Id));
        let key = cursor.key.value();
        let past = |expr: SimpleExpr, value: sea_orm::Value| {
            if sort.descending {
                expr.lt(value)
            } else {
                expr.gt(value)
            }
        };
        let reached = if sort.descending {
            sort.expr().lte(key.clone())
        } else {
            sort.expr().gte(key.clone())
        };
        // `(key, id)` past the cursor. The plain bound on `key` comes first so that every
        // database turns it into an index range: the next page starts where the last ended.
        select = select.filter(
            Condition::all().add(reached).add(
                Condition::any().add(past(sort.expr(), key.clone())).add(
                    Condition::all()
                        .add(sort.expr().eq(key))
                        .add(past(id, cursor.id.into())),
                ),
            ),
        );
    }
    select
        .order_by(sort.expr(), order.clone())
        .order_by(zoom_link::Column::Id, order)
        .limit(limit)
}

/// The statements behind a filter's first page and its statistics, for query-plan checks.
pub fn statements(filter: &SessionFilter, backend: DbBackend) -> Vec<(&'static str, Statement)> {
    vec![
        (
            "sessions",
            list_select(filter, Sort::NEWEST_FIRST, None, DEFAULT_PAGE + 1).build(backend),
        ),
        (
            "sessionStats",
            session_counts(filter.sessions(), backend, false).build(backend),
        ),
        (
            "teacherStats",
            session_counts(filter.sessions(), backend, true).build(backend),
        ),
    ]
}

/// One page of sessions in `sort` order, after `after`. Keyset pagination: sessions that start
/// meanwhile never shift later pages, so nothing repeats and nothing is skipped.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &SessionFilter,
    sort: Sort,
    first: u64,
    after: Option<&str>,
) -> Result<Page> {
    let after = after.map(|text| Cursor::decode(text, sort)).transpose()?;
    let links = list_select(filter, sort, after.as_ref(), first + 1)
        .all(db)
        .await?;
    let has_next = links.len() as u64 > first;
    let views = view::attach(db, links.into_iter().take(first as usize).collect()).await?;
    let rows = views
        .into_iter()
        .map(|view| {
            let cursor = Cursor {
                sort: sort.key,
                desc: sort.descending,
                key: sort.key_of(&view),
                id: view.link.id.0,
            };
            (cursor.encode(), view)
        })
        .collect();
    Ok(Page {
        rows,
        has_next,
        has_previous: after.is_some(),
    })
}

/// Where a page of links ends: the last link's id, opaque to clients.
fn link_cursor(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("link:{id}"))
}

fn parse_link_cursor(text: &str) -> Result<i64> {
    URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix("link:")?.parse().ok())
        .ok_or_else(|| ServiceError::BadInput("`after` is not a cursor from this list".into()))
}

/// One page of links, opened or not, newest issued first, after `after`.
pub async fn links(
    db: &impl ConnectionTrait,
    filter: &SessionFilter,
    first: u64,
    after: Option<&str>,
) -> Result<Page> {
    let after = after.map(parse_link_cursor).transpose()?;
    let mut select = filter.links();
    if let Some(id) = after {
        select = select.filter(zoom_link::Column::Id.lt(LinkId(id)));
    }
    let links = select
        .order_by(zoom_link::Column::Id, Order::Desc)
        .limit(first + 1)
        .all(db)
        .await?;
    let has_next = links.len() as u64 > first;
    let views = view::attach(db, links.into_iter().take(first as usize).collect()).await?;
    Ok(Page {
        rows: views
            .into_iter()
            .map(|view| (link_cursor(view.link.id.0), view))
            .collect(),
        has_next,
        has_previous: after.is_some(),
    })
}
