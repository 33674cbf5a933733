//! The sessions table: filtered, sorted, paged, and live (a session that starts appears, one
//! that changes is updated in place).

use leptos::prelude::*;

use crate::{
    api::{Sessions, sessions},
    context::ctx,
    convert::{self, Row},
    format,
    state::{Filter, SortField, attendance_label},
};

const PAGE: i64 = 25;

/// The sessions a page is taken from: the filter and the order.
#[derive(Clone, Debug, PartialEq)]
struct Query {
    filter: Filter,
    sort: SortField,
    descending: bool,
}

/// Which page of a query the table shows: the cursors of the pages before it, and where it
/// starts.
#[derive(Clone, Debug, PartialEq)]
struct Place {
    query: Query,
    before: Vec<Option<String>>,
    after: Option<String>,
}

impl Place {
    fn first(query: Query) -> Self {
        Self {
            query,
            before: Vec::new(),
            after: None,
        }
    }
}

/// One page as loaded; live events change its rows in place until the next load.
#[derive(Clone)]
struct Page {
    rows: ArcRwSignal<Vec<Row>>,
    /// Where the next page starts, if there is one.
    next: Option<String>,
}

#[component]
pub fn SessionsView() -> impl IntoView {
    let ctx = ctx();
    let route = ctx.route;
    let query = Memo::new(move |_| {
        route.with(|r| Query {
            filter: r.filter.clone(),
            sort: r.sort,
            descending: r.descending,
        })
    });
    // The page turned to, for the query it was turned in; a new filter or order starts at the
    // first page.
    let turned = RwSignal::new(Place::first(query.get_untracked()));
    let place = Memo::new(move |_| {
        let query = query.get();
        turned.with(|p| {
            if p.query == query {
                p.clone()
            } else {
                Place::first(query)
            }
        })
    });
    // Reloads the page shown after a reconnect too: events may have been missed.
    let load_ctx = ctx.clone();
    let page = LocalResource::new(move || {
        let place = place.get();
        load_ctx.epoch.track();
        let answer = load_ctx.fetch::<Sessions>(sessions::Variables {
            filter: Some(place.query.filter.sessions(&load_ctx.time_zone)),
            order_by: Some(convert::order(place.query.sort, place.query.descending)),
            first: Some(PAGE),
            after: place.after,
        });
        async move {
            let page = answer.await?.sessions;
            Ok::<_, String>(Page {
                rows: ArcRwSignal::new(page.edges.into_iter().map(|e| e.node.into()).collect()),
                next: page
                    .page_info
                    .has_next_page
                    .then_some(page.page_info.end_cursor)
                    .flatten(),
            })
        }
    });
    let shown = move || page.map(|p| p.as_ref().ok().cloned()).flatten();
    let rows = move || shown().map(|p| p.rows.get()).unwrap_or_default();
    let next = move || shown().and_then(|p| p.next);
    let error = move || page.map(|p| p.as_ref().err().cloned()).flatten();
    let loading = RwSignal::new(true);

    // Live events: a row shown is updated in place, or reloaded away when it no longer matches
    // the status filter; a session that starts or changes state off the page reloads the first
    // page. What arrived while the view was closed is covered by its first load.
    ctx.events.update_untracked(Vec::clear);
    Effect::new(move |_| {
        ctx.events.track();
        let batch = ctx
            .events
            .try_update_untracked(std::mem::take)
            .unwrap_or_default();
        let (statuses, attendance) =
            route.with_untracked(|r| (r.filter.statuses.clone(), r.filter.attendance.clone()));
        let first_page = place.with_untracked(|p| p.before.is_empty());
        let shown = untrack(shown).map(|p| p.rows);
        let mut reload = false;
        for event in batch {
            let known = shown.as_ref().is_some_and(|rows| {
                rows.with_untracked(|rows| rows.iter().any(|r| r.id == event.row.id))
            });
            let matches = (statuses.is_empty()
                || statuses
                    .iter()
                    .any(|s| s.key().eq_ignore_ascii_case(&event.row.status)))
                && (attendance.is_empty()
                    || attendance.iter().any(|a| {
                        event
                            .row
                            .attendance
                            .as_deref()
                            .is_some_and(|state| a.key().eq_ignore_ascii_case(state))
                    }));
            if known && matches {
                if let Some(rows) = &shown {
                    rows.update(|rows| {
                        if let Some(row) = rows.iter_mut().find(|r| r.id == event.row.id) {
                            *row = event.row.clone();
                        }
                    });
                }
            } else if known || (matches && event.kind != "HEARTBEAT" && first_page) {
                reload = true;
            }
        }
        if reload {
            page.refetch();
        }
    });

    let sort_by = move |field: SortField| {
        route.update(|r| {
            if r.sort == field {
                r.descending = !r.descending;
            } else {
                r.sort = field;
                r.descending = field != SortField::Teacher;
            }
        })
    };
    let arrow = move |field: SortField| {
        move || {
            route.with(|r| match (r.sort == field, r.descending) {
                (true, true) => " ▼",
                (true, false) => " ▲",
                _ => "",
            })
        }
    };
    let go_next = move |_| {
        if let Some(cursor) = untrack(next) {
            let mut here = place.get_untracked();
            here.before.push(here.after.take());
            here.after = Some(cursor);
            turned.set(here);
        }
    };
    let go_previous = move |_| {
        let mut here = place.get_untracked();
        if let Some(previous) = here.before.pop() {
            here.after = previous;
            turned.set(here);
        }
    };
    let now = ctx.now;
    view! {
        <Transition set_pending=loading>
            <Show when=move || error().is_some()>
                <p class="error" role="alert">{error}</p>
            </Show>
            <table id="sessions" class="sessions" aria-busy=move || loading.get().to_string()>
                <thead>
                    <tr>
                        <th><button class="sort" id="sort-teacher" on:click=move |_| sort_by(SortField::Teacher)>
                            "Teacher"{arrow(SortField::Teacher)}</button></th>
                        <th>"Student"</th>
                        <th><button class="sort" id="sort-started" on:click=move |_| sort_by(SortField::Started)>
                            "Start"{arrow(SortField::Started)}</button></th>
                        <th>"End"</th>
                        <th><button class="sort" id="sort-duration" on:click=move |_| sort_by(SortField::Duration)>
                            "Duration"{arrow(SortField::Duration)}</button></th>
                        <th>"Status"</th>
                        <th>"Last activity"</th>
                        <th>"How it ended"</th>
                        <th title="How the planned lesson went">"Attendance"</th>
                    </tr>
                </thead>
                <tbody>
                    <For each=rows key=|row| (row.id.clone(), row.status.clone(), row.last_activity_at.clone(), row.corrected) let:row>
                        <tr class="link" data-session=row.id.clone() data-status=row.status.clone()
                            title="Open this session's page"
                            on:click={
                                let id = row.id.clone();
                                move |_| route.update(|r| r.session = Some(id.clone()))
                            }>
                            <td>{row.teacher.clone()}</td>
                            <td>{row.student.clone()}</td>
                            <td>{row.clicked_at.as_deref().map(format::local_time)}</td>
                            <td>{row.ended_at.as_deref().map(format::local_time)}</td>
                            <td class="duration">{
                                let row = row.clone();
                                move || duration(&row, now.get())
                            }{row.corrected.then(|| view! {
                                " "<span class="badge corrected" title="An admin corrected this session's end">"Corrected"</span>
                            })}</td>
                            <td><span class=format!("status {}", row.status.to_lowercase())>{status_label(&row.status)}</span></td>
                            <td>{row.last_activity_at.as_deref().map(format::local_time)}</td>
                            <td class="end-reason">{ending(&row)}</td>
                            <td class="attendance-cell">{attendance_badge(row.attendance.as_deref())}</td>
                        </tr>
                    </For>
                </tbody>
            </table>
            <Show when=move || rows().is_empty() && !loading.get()>
                <p class="muted" id="no-sessions">"No session matches these filters."</p>
            </Show>
            <nav class="pager">
                <button id="page-previous" disabled=move || place.with(|p| p.before.is_empty()) on:click=go_previous>"← Previous"</button>
                <span>{move || format!("Page {}", place.with(|p| p.before.len()) + 1)}</span>
                <button id="page-next" disabled=move || next().is_none() on:click=go_next>"Next →"</button>
            </nav>
        </Transition>
    }
}

/// A planned lesson's state as a badge; nothing without a plan.
pub fn attendance_badge(state: Option<&str>) -> Option<impl IntoView + use<>> {
    let state = state?;
    Some(view! {
        <span class=format!("badge attendance {}", state.to_lowercase().replace('_', "-"))
            data-attendance=state.to_owned()>
            {attendance_label(state)}
        </span>
    })
}

/// The recorded length, or the running time of an active session.
fn duration(row: &Row, now_ms: f64) -> String {
    match (
        row.status.as_str(),
        row.duration_seconds,
        row.clicked_at.as_deref(),
    ) {
        (_, Some(seconds), _) => match row.in_meeting_seconds {
            Some(inside) if inside != seconds => {
                format!(
                    "{} ({} in Zoom)",
                    format::clock(seconds),
                    format::clock(inside)
                )
            }
            _ => format::clock(seconds),
        },
        ("ACTIVE", None, Some(start)) => format::seconds_since(start, now_ms)
            .map(|s| format!("{} (running)", format::clock(s)))
            .unwrap_or_default(),
        _ => String::new(),
    }
}

pub fn status_label(status: &str) -> &'static str {
    match status {
        "ACTIVE" => "Active",
        "ENDED" => "Ended",
        "TIMEOUT" => "Timed out",
        _ => "Not opened",
    }
}

/// How the session's end was determined.
fn ending(row: &Row) -> &'static str {
    match (row.end_reason.as_deref(), row.status.as_str()) {
        (Some("LEFT_ZOOM"), _) => "Left the Zoom meeting (Zoom)",
        (Some("MEETING_ENDED"), _) => "The Zoom meeting ended (Zoom)",
        (Some("TAB_CLOSED"), _) => "Tracking page closed",
        (Some("TIMED_OUT"), _) => "No activity: ended at the last heartbeat",
        (_, "ACTIVE") => "Running",
        _ => "",
    }
}
