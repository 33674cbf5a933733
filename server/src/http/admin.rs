//! The spec's admin REST endpoints, and the CSV export.

use std::collections::HashMap;

use axum::{
    Json,
    body::Body,
    extract::{RawQuery, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

use super::{auth::Admin, error::ApiError, state::AppState};
use crate::{
    domain::{
        Caller,
        attendance::{self, Attendance},
        names::{end_reason_name, status_name},
        time::{self, local},
    },
    services::{
        ServiceError, corrections,
        reports::{self, FilterParts, Listing, SessionFilter, Sort, csv},
        view::SessionView,
    },
};

/// `POST /api/admin/auto-timeout`: runs one sweep now.
pub async fn auto_timeout(
    _: Admin,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    let ended = state.tracker.sweep(time::now()).await?;
    Ok(Json(json!({ "success": true, "ended": ended })))
}

fn query_map(query: Option<&str>) -> HashMap<String, String> {
    query
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

fn date(params: &HashMap<String, String>, key: &str) -> Result<Option<NaiveDate>, ServiceError> {
    params
        .get(key)
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<NaiveDate>()
                .map_err(|_| ServiceError::BadInput(format!("{key} must be a date: YYYY-MM-DD")))
        })
        .transpose()
}

/// `status=active,ended`: the spec's status names.
fn statuses(
    params: &HashMap<String, String>,
) -> Result<Vec<Option<entity::zoom_link::SessionStatus>>, ServiceError> {
    use entity::zoom_link::SessionStatus as S;
    params
        .get("status")
        .map(String::as_str)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s.to_ascii_lowercase().as_str() {
            "active" => Ok(Some(S::Active)),
            "ended" => Ok(Some(S::Ended)),
            "timeout" => Ok(Some(S::Timeout)),
            _ => Err(ServiceError::BadInput(format!(
                "status {s:?} is not one of active, ended, timeout"
            ))),
        })
        .collect()
}

/// `attendance=late,short`: the attendance states' names.
fn attendance(params: &HashMap<String, String>) -> Result<Vec<Attendance>, ServiceError> {
    params
        .get("attendance")
        .map(String::as_str)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            Attendance::ALL
                .into_iter()
                .find(|state| state.name().eq_ignore_ascii_case(s))
                .ok_or_else(|| {
                    ServiceError::BadInput(format!(
                        "attendance {s:?} is not one of on_time, late, short (pending and \
                         no_show links were never opened, so they are no sessions)"
                    ))
                })
        })
        .collect()
}

fn filter_from(
    params: &HashMap<String, String>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<SessionFilter, ServiceError> {
    let get = |key: &str| {
        params
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    reports::parse_filter(
        FilterParts {
            listing: Listing::Sessions,
            attendance: attendance(params)?,
            teacher_id: get("teacherId"),
            student_id: get("studentId"),
            statuses: statuses(params)?,
            from,
            to,
            time_zone: get("timeZone"),
            search: get("search"),
        },
        Caller::Admin,
        now,
    )
}

/// The filter of the CSV export's query string: `teacherId`, `studentId`, `status`, `from`,
/// `to`, `timeZone`, `search`, as `sessions` takes them.
pub fn rest_filter(query: Option<&str>, now: DateTime<Utc>) -> Result<SessionFilter, ApiError> {
    let params = query_map(query);
    Ok(filter_from(
        &params,
        date(&params, "from")?,
        date(&params, "to")?,
        now,
    )?)
}

fn session_json(view: &SessionView, tz: Tz, now: DateTime<Utc>) -> Value {
    let link = &view.link;
    json!({
        "id": link.id.0,
        "teacherId": link.teacher_id.0,
        "teacherName": view.teacher.name,
        "studentId": link.student_id.0,
        "studentName": view.student.name,
        "zoomUrl": link.zoom_url,
        "status": status_name(link.session_status),
        "issuedAt": local(Some(link.created_at), tz),
        "clickedAt": local(link.clicked_at, tz),
        "endedAt": local(link.session_ended_at, tz),
        "lastActivityAt": local(link.last_activity_at, tz),
        "durationMinutes": link.session_duration_minutes,
        "durationSeconds": link.session_duration_seconds,
        "endReason": link.session_end_reason.map(end_reason_name),
        "zoomJoinedAt": local(link.zoom_joined_at, tz),
        "inMeetingSeconds": link.in_meeting_seconds,
        "plannedStart": local(link.planned_start, tz),
        "plannedMinutes": link.planned_minutes,
        "attendance": attendance::attendance(link, now).map(Attendance::name),
        "correctedAt": local(link.corrected_at, tz),
        "interruptions": link.interruptions,
        "interruptedSeconds": link.interrupted_seconds,
    })
}

/// The most sessions one `teacher-sessions` answer lists.
const TEACHER_SESSIONS_LIMIT: u64 = 1000;

/// `GET /api/admin/teacher-sessions?teacherId=&date=&status=&timeZone=`: the sessions (newest
/// first, at most 1000) and their statistics.
pub async fn teacher_sessions(
    _: Admin,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = query_map(query.as_deref());
    let day = date(&params, "date")?;
    let now = time::now();
    let filter = filter_from(&params, day, day, now)?;
    let tz = filter.time_zone;
    let page = reports::list(
        state.tracker.read(),
        &filter,
        Sort::NEWEST_FIRST,
        TEACHER_SESSIONS_LIMIT,
        None,
    )
    .await?;
    let stats = reports::stats(state.tracker.read(), &filter).await?;
    let sessions: Vec<Value> = page
        .rows
        .iter()
        .map(|(_, view)| session_json(view, tz, now))
        .collect();
    Ok(Json(json!({
        "sessions": sessions,
        "hasMore": page.has_next,
        "statistics": {
            "totalSessions": stats.total,
            "activeSessions": stats.active,
            "endedSessions": stats.ended,
            "timeoutSessions": stats.timeout,
            "totalDurationMinutes": time::minutes(stats.total_duration_seconds),
            "avgDurationMinutes": stats.average_duration_seconds().map(|s| s / 60.0),
            "neverClickedLinks": stats.never_clicked,
        },
    })))
}

/// Rows the export reads per query: memory stays flat whatever the export's size.
const CSV_CHUNK: u64 = 1000;

/// `GET /api/admin/sessions.csv?teacherId=&studentId=&status=&from=&to=&search=&timeZone=`:
/// every matching session, newest first, streamed page by page.
pub async fn sessions_csv(
    _: Admin,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let now = time::now();
    let filter = rest_filter(query.as_deref(), now)?;
    let tz = filter.time_zone;
    let start = futures::stream::once(async { Ok::<_, std::io::Error>(csv::HEADER.to_owned()) });
    let pages = futures::stream::unfold(Some(None::<String>), move |after| {
        let (db, filter) = (state.tracker.read().clone(), filter.clone());
        async move {
            let after = after?;
            let page = match reports::list(
                &db,
                &filter,
                Sort::NEWEST_FIRST,
                CSV_CHUNK,
                after.as_deref(),
            )
            .await
            {
                Ok(page) => {
                    let links: Vec<_> = page.rows.iter().map(|(_, view)| &view.link).collect();
                    corrections::latest(&db, &links)
                        .await
                        .map(|corrections| (page, corrections))
                }
                Err(err) => Err(err),
            };
            match page {
                Ok((page, corrections)) => {
                    let next = page
                        .has_next
                        .then(|| page.rows.last().map(|(c, _)| c.clone()))
                        .flatten();
                    let chunk: String = page
                        .rows
                        .iter()
                        .map(|(_, view)| csv::row(view, tz, now, corrections.get(&view.link.id)))
                        .collect();
                    Some((Ok(chunk), next.map(Some)))
                }
                Err(err) => {
                    // The status line is gone: cut the body short so the client sees a failure.
                    tracing::error!(error = %err, cause = ?err, "CSV export failed");
                    Some((Err(std::io::Error::other("export failed")), None))
                }
            }
        }
    });
    let filename = format!("sessions-{}.csv", time::now().format("%Y%m%d-%H%M%S"));
    Ok(csv_response(
        Body::from_stream(futures::StreamExt::chain(start, pages)),
        &filename,
    ))
}

/// `GET /api/admin/payroll.csv?from=&to=&timeZone=`: `payroll`'s rows, one per teacher.
pub async fn payroll_csv(
    _: Admin,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = query_map(query.as_deref());
    let required = |key: &str| {
        date(&params, key)?.ok_or_else(|| {
            ServiceError::BadInput(format!("{key} is required: a date as YYYY-MM-DD"))
        })
    };
    let range = reports::period(
        required("from")?,
        required("to")?,
        params.get("timeZone").map(String::as_str),
    )?;
    let rows = reports::payroll(state.tracker.read(), Caller::Admin, range, time::now()).await?;
    let mut body = csv::PAYROLL_HEADER.to_owned();
    body.extend(rows.iter().map(csv::payroll_row));
    let filename = format!("payroll-{}-{}.csv", range.from, range.to);
    Ok(csv_response(Body::from(body), &filename))
}

/// A CSV download, never cached.
fn csv_response(body: Body, filename: &str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
