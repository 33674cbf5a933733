//! The sessions table: filtered, sorted, paged, and live (a session that starts appears, one
//! that changes is updated in place).

use leptos::prelude::*;

use crate::{
    api::{Sessions, sessions},
    app::{Latest, ctx},
    convert::{self, Row},
    format,
    state::SortField,
};

const PAGE: i64 = 25;

#[component]
pub fn SessionsView() -> impl IntoView {
    let ctx = ctx();
    let route = ctx.route;
    let rows = RwSignal::new(Vec::<Row>::new());
    let error = RwSignal::new(None::<String>);

    // The cursors of the pages before this one, and where the next one starts.
    let before = RwSignal::new(Vec::<Option<String>>::new());
    let after = RwSignal::new(None::<String>);
    let next = RwSignal::new(None::<String>);
    let request = Latest::new();
    let loading = request.loading;

    let load_ctx = ctx.clone();
    let load = move || {
        let ctx = load_ctx.clone();
        let (filter, order) = route.with_untracked(|r| {
            (
                r.filter.sessions(&ctx.time_zone),
                convert::order(r.sort, r.descending),
            )
        });
        let variables = sessions::Variables {
            filter: Some(filter),
            order_by: Some(order),
            first: Some(PAGE),
            after: after.get_untracked(),
        };
        request.run::<Sessions>(&ctx, variables, error, move |data| {
            let page = data.sessions;
            next.set(
                page.page_info
                    .has_next_page
                    .then_some(page.page_info.end_cursor)
                    .flatten(),
            );
            rows.set(page.edges.into_iter().map(|e| e.node.into()).collect());
        });
    };

    // A new filter or order starts at the first page.
    let first_load = load.clone();
    Effect::new(move |_| {
        route.with(|r| (r.filter.clone(), r.sort, r.descending));
        before.set(Vec::new());
        after.set(None);
        first_load();
    });
    // After a reconnect, events may have been missed: reload the page shown.
    let epoch_load = load.clone();
    Effect::new(move |first: Option<()>| {
        ctx.epoch.track();
        if first.is_some() {
            epoch_load();
        }
    });
    // Live events: a row shown is updated in place, or reloaded away when it no longer matches
    // the status filter; a session that starts or changes state off the page reloads the first
    // page. What arrived while the view was closed is covered by its first load.
    ctx.events.update_untracked(Vec::clear);
    let event_load = load.clone();
    Effect::new(move |_| {
        ctx.events.track();
        let batch = ctx
            .events
            .try_update_untracked(std::mem::take)
            .unwrap_or_default();
        let statuses = route.with_untracked(|r| r.filter.statuses.clone());
        let mut reload = false;
        for event in batch {
            let known = rows.with_untracked(|rows| rows.iter().any(|r| r.id == event.row.id));
            let matches = statuses.is_empty()
                || statuses
                    .iter()
                    .any(|s| s.key().eq_ignore_ascii_case(&event.row.status));
            if known && matches {
                rows.update(|rows| {
                    if let Some(row) = rows.iter_mut().find(|r| r.id == event.row.id) {
                        *row = event.row.clone();
                    }
                });
            } else if known
                || (matches && event.kind != "HEARTBEAT" && before.with_untracked(Vec::is_empty))
            {
                reload = true;
            }
        }
        if reload {
            event_load();
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
    let next_load = load.clone();
    let go_next = move |_| {
        if let Some(cursor) = next.get_untracked() {
            before.update(|b| b.push(after.get_untracked()));
            after.set(Some(cursor));
            next_load();
        }
    };
    let go_previous = move |_| {
        let mut stack = before.get_untracked();
        if let Some(previous) = stack.pop() {
            before.set(stack);
            after.set(previous);
            load();
        }
    };
    let now = ctx.now;
    view! {
        <Show when=move || error.get().is_some()>
            <p class="error" role="alert">{move || error.get()}</p>
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
                </tr>
            </thead>
            <tbody>
                <For each=move || rows.get() key=|row| (row.id.clone(), row.status.clone(), row.last_activity_at.clone()) let:row>
                    <tr data-session=row.id.clone() data-status=row.status.clone()>
                        <td>{row.teacher.clone()}</td>
                        <td>{row.student.clone()}</td>
                        <td>{row.clicked_at.as_deref().map(format::local_time)}</td>
                        <td>{row.ended_at.as_deref().map(format::local_time)}</td>
                        <td class="duration">{
                            let row = row.clone();
                            move || duration(&row, now.get())
                        }</td>
                        <td><span class=format!("status {}", row.status.to_lowercase())>{status_label(&row.status)}</span></td>
                        <td>{row.last_activity_at.as_deref().map(format::local_time)}</td>
                        <td class="end-reason">{ending(&row)}</td>
                    </tr>
                </For>
            </tbody>
        </table>
        <Show when=move || rows.with(Vec::is_empty) && !loading.get()>
            <p class="muted" id="no-sessions">"No session matches these filters."</p>
        </Show>
        <nav class="pager">
            <button id="page-previous" disabled=move || before.with(Vec::is_empty) on:click=go_previous>"← Previous"</button>
            <span>{move || format!("Page {}", before.with(Vec::len) + 1)}</span>
            <button id="page-next" disabled=move || next.with(Option::is_none) on:click=go_next>"Next →"</button>
        </nav>
    }
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

fn status_label(status: &str) -> &'static str {
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
