//! Distributions: finished sessions by length, and sessions per local day.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use entity::zoom_link;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, FromQueryResult, QueryFilter, QuerySelect,
    sea_query::Expr,
};

use super::{filter::SessionFilter, stats::int};
use crate::{
    domain::range::DayRange,
    services::{Result, ServiceError},
};

/// Sessions started, and their finished minutes, on one local day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DayStats {
    pub day: NaiveDate,
    pub sessions: i64,
    pub duration_seconds: i64,
}

/// Upper bounds in minutes of the duration distribution's buckets; one more bucket is open.
pub const DURATION_BOUNDS: [i64; 7] = [5, 15, 30, 45, 60, 90, 120];

/// Finished sessions whose length is in `[from_minutes, to_minutes)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DurationBucket {
    pub from_minutes: i64,
    pub to_minutes: Option<i64>,
    pub sessions: i64,
}

#[derive(FromQueryResult)]
struct DurationRow {
    bucket: i64,
    sessions: i64,
}

/// The finished sessions of `filter` by length, every bucket listed.
pub async fn durations(
    db: &impl ConnectionTrait,
    filter: &SessionFilter,
) -> Result<Vec<DurationBucket>> {
    let backend = db.get_database_backend();
    let seconds = "wpos_zoom_links.session_duration_seconds";
    let cases: String = DURATION_BOUNDS
        .iter()
        .enumerate()
        .map(|(i, minutes)| format!(" WHEN {seconds} < {} THEN {i}", minutes * 60))
        .collect();
    let bucket = format!("CASE{cases} ELSE {} END", DURATION_BOUNDS.len());
    let rows = filter
        .sessions()
        .filter(zoom_link::Column::SessionDurationSeconds.is_not_null())
        .select_only()
        .column_as(int(backend, &bucket), "bucket")
        .column_as(int(backend, "COUNT(*)"), "sessions")
        .group_by(Expr::cust("bucket"))
        .into_model::<DurationRow>()
        .all(db)
        .await?;
    let mut from = 0;
    let mut buckets: Vec<DurationBucket> = DURATION_BOUNDS
        .iter()
        .map(Some)
        .chain([None])
        .map(|to| {
            let bucket = DurationBucket {
                from_minutes: from,
                to_minutes: to.copied(),
                sessions: 0,
            };
            from = to.copied().unwrap_or(from);
            bucket
        })
        .collect();
    for row in rows {
        if let Some(bucket) = usize::try_from(row.bucket)
            .ok()
            .and_then(|i| buckets.get_mut(i))
        {
            bucket.sessions = row.sessions;
        }
    }
    Ok(buckets)
}

/// Every time zone's offset is a multiple of 15 minutes: buckets that size fold into local days.
const BUCKET_SECONDS: i64 = 900;

#[derive(FromQueryResult)]
struct BucketRow {
    bucket: i64,
    sessions: i64,
    seconds: i64,
}

/// The days `dailyStats` covers: the filter's range, else the 30 days up to `now`'s.
pub fn daily_range(filter: &SessionFilter, now: DateTime<Utc>) -> Result<DayRange> {
    match filter.range {
        Some(range) => Ok(range),
        None => {
            let today = now.with_timezone(&filter.time_zone).date_naive();
            DayRange::new(today - chrono::Days::new(29), today, filter.time_zone)
                .map_err(ServiceError::BadInput)
        }
    }
}

/// Per local day of `range` (every day listed, empty ones too).
pub async fn daily(
    db: &impl ConnectionTrait,
    filter: &SessionFilter,
    range: DayRange,
) -> Result<Vec<DayStats>> {
    let backend = db.get_database_backend();
    let mut filter = filter.clone();
    filter.range = Some(range);
    let epoch = match backend {
        DbBackend::Postgres => "EXTRACT(EPOCH FROM wpos_zoom_links.clicked_at)",
        DbBackend::MySql => {
            "TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', wpos_zoom_links.clicked_at)"
        }
        _ => "strftime('%s', wpos_zoom_links.clicked_at)",
    };
    let bucket = match backend {
        DbBackend::MySql => format!("{epoch} DIV {BUCKET_SECONDS}"),
        _ => format!("CAST({epoch} AS BIGINT) / {BUCKET_SECONDS}"),
    };
    let rows = filter
        .sessions()
        .select_only()
        .column_as(int(backend, &bucket), "bucket")
        .column_as(int(backend, "COUNT(*)"), "sessions")
        .column_as(
            int(backend, "SUM(wpos_zoom_links.session_duration_seconds)"),
            "seconds",
        )
        .group_by(Expr::cust("bucket"))
        .into_model::<BucketRow>()
        .all(db)
        .await?;
    let mut days: BTreeMap<NaiveDate, DayStats> = range
        .days()
        .map(|day| {
            (
                day,
                DayStats {
                    day,
                    sessions: 0,
                    duration_seconds: 0,
                },
            )
        })
        .collect();
    for row in rows {
        let Some(at) = DateTime::<Utc>::from_timestamp(row.bucket * BUCKET_SECONDS, 0) else {
            continue;
        };
        if let Some(day) = days.get_mut(&range.day_of(at)) {
            day.sessions += row.sessions;
            day.duration_seconds += row.seconds;
        }
    }
    Ok(days.into_values().collect())
}
