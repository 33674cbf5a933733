//! Teachers: payroll for a period beside the period before it, and performance under the
//! current filters (a row opens that teacher's sessions).

use std::collections::HashMap;

use leptos::{prelude::*, task::spawn_local};

use crate::{
    api::{Payroll, TeacherStatsQuery, payroll, teacher_stats_query},
    context::ctx,
    export, format,
    state::View,
};

type PayrollFields = payroll::PayrollFields;

/// `+3`, `−2`, or `=`.
fn change(now: i64, before: Option<i64>) -> String {
    match now - before.unwrap_or(0) {
        0 => "=".into(),
        d if d > 0 => format!("+{d}"),
        d => format!("−{}", -d),
    }
}

/// Lessons held and minutes paid per teacher for a period, each beside the period of the same
/// length just before it; and the period's CSV.
#[component]
fn PayrollSection() -> impl IntoView {
    let ctx = ctx();
    let from = RwSignal::new(format::month_start());
    let to = RwSignal::new(format::today());
    let load_ctx = ctx.clone();
    let answer = LocalResource::new(move || {
        let (from, to) = (from.get(), to.get());
        load_ctx.epoch.track();
        load_ctx.stats.track();
        let ctx = load_ctx.clone();
        async move {
            let days = format::days_between(&from, &to)
                .ok_or("Choose a period: its first day, then its last.")?;
            let previous_to = format::add_days(&from, -1).ok_or("not a date")?;
            let previous_from = format::add_days(&from, -days).ok_or("not a date")?;
            let data = ctx
                .fetch::<Payroll>(payroll::Variables {
                    from,
                    to,
                    time_zone: Some(ctx.time_zone.clone()),
                    previous_from: previous_from.clone(),
                    previous_to: previous_to.clone(),
                })
                .await?;
            Ok::<_, String>((data, previous_from, previous_to))
        }
    });
    let error = move || answer.map(|a| a.as_ref().err().cloned()).flatten();
    let previous = move || {
        answer
            .map(|a| {
                a.as_ref()
                    .ok()
                    .map(|(_, from, to)| format!("Compared with {from} to {to}."))
            })
            .flatten()
    };
    let rows = move || {
        answer
            .map(|a| {
                a.as_ref()
                    .map(|(data, _, _)| {
                        let before: HashMap<String, PayrollFields> = data
                            .previous
                            .iter()
                            .map(|r| (r.teacher.id.clone(), r.clone()))
                            .collect();
                        let mut rows: Vec<_> = data
                            .current
                            .iter()
                            .map(|r| {
                                let row = r.clone();
                                let earlier = before.get(&row.teacher.id).cloned();
                                (row, earlier)
                            })
                            .collect();
                        // A teacher with lessons only before: nothing now.
                        for earlier in &data.previous {
                            if !rows.iter().any(|(r, _)| r.teacher.id == earlier.teacher.id) {
                                let none = PayrollFields {
                                    lessons: 0,
                                    paid_minutes: 0,
                                    planned_minutes: 0,
                                    corrected_lessons: 0,
                                    in_progress: 0,
                                    attendance: payroll::PayrollFieldsAttendance {
                                        late: 0,
                                        short: 0,
                                        no_show: 0,
                                    },
                                    ..earlier.clone()
                                };
                                rows.push((none, Some(earlier.clone())));
                            }
                        }
                        rows
                    })
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    };
    let export_error = RwSignal::new(None::<String>);
    let download = move |_| {
        let ctx = ctx.clone();
        let (from, to) = (from.get_untracked(), to.get_untracked());
        let url = format!(
            "/api/admin/payroll.csv?from={from}&to={to}&timeZone={}",
            js_sys::encode_uri_component(&ctx.time_zone)
        );
        spawn_local(async move {
            let name = format!("payroll-{from}-{to}.csv");
            export_error.set(export::download(&ctx.credential, &url, &name).await.err());
        });
    };
    view! {
        <section class="payroll" aria-label="Payroll">
            <h2>"Payroll"</h2>
            <div class="filters">
                <label>"From "
                    <input id="payroll-from" type="date" prop:value=move || from.get()
                        on:change=move |ev| from.set(event_target_value(&ev)) />
                </label>
                <label>"To "
                    <input id="payroll-to" type="date" prop:value=move || to.get()
                        on:change=move |ev| to.set(event_target_value(&ev)) />
                </label>
                <button id="payroll-csv" on:click=download
                    title="This period's payroll, one row per teacher, as CSV">"Download CSV"</button>
                <span class="muted" id="payroll-previous">{previous}</span>
                <Show when=move || export_error.get().is_some()>
                    <span class="error" role="alert">{move || export_error.get()}</span>
                </Show>
            </div>
            <Transition>
                <Show when=move || error().is_some()>
                    <p class="error" role="alert" id="payroll-error">{error}</p>
                </Show>
                <table id="payroll">
                    <thead>
                        <tr>
                            <th>"Teacher"</th><th>"Lessons"</th><th>"vs before"</th><th>"Paid time"</th>
                            <th>"vs before"</th><th>"Planned"</th><th>"Late"</th><th>"Short"</th>
                            <th>"No-show"</th><th>"Corrected"</th><th>"Running"</th>
                        </tr>
                    </thead>
                    <tbody>
                        <For each=rows key=|(r, b)| format!("{r:?}{b:?}") let:pair>
                            {
                                let (row, before) = pair;
                                view! {
                                    <tr data-teacher=row.teacher.id.clone()>
                                        <td>{row.teacher.name.clone()}</td>
                                        <td class="lessons">{row.lessons}</td>
                                        <td class="lessons-change">{change(row.lessons, before.as_ref().map(|b| b.lessons))}</td>
                                        <td class="paid">{format::minutes(row.paid_minutes)}</td>
                                        <td class="paid-change">{change(row.paid_minutes, before.as_ref().map(|b| b.paid_minutes))}" min"</td>
                                        <td>{format::minutes(row.planned_minutes)}</td>
                                        <td>{row.attendance.late}</td>
                                        <td>{row.attendance.short}</td>
                                        <td>{row.attendance.no_show}</td>
                                        <td>{row.corrected_lessons}</td>
                                        <td>{row.in_progress}</td>
                                    </tr>
                                }
                            }
                        </For>
                    </tbody>
                </table>
                <Show when=move || rows().is_empty() && error().is_none()>
                    <p class="muted">"No lesson in this period."</p>
                </Show>
            </Transition>
            <p class="muted">"Paid time adds up the finished lessons' durations (the corrected one where an admin corrected it). A lesson counts in the period of its planned start, else of its first click."</p>
        </section>
    }
}

#[component]
pub fn TeachersView() -> impl IntoView {
    let ctx = ctx();
    // Reloads on a new filter or connection, and whenever the live numbers move.
    let load_ctx = ctx.clone();
    let answer = LocalResource::new(move || {
        let filter = load_ctx
            .filter
            .with(|f| f.teacher_stats_query(&load_ctx.time_zone));
        load_ctx.epoch.track();
        load_ctx.stats.track();
        load_ctx.fetch::<TeacherStatsQuery>(teacher_stats_query::Variables {
            filter: Some(filter),
        })
    });
    let error = move || answer.map(|a| a.as_ref().err().cloned()).flatten();
    let rows = move || {
        answer
            .map(|a| {
                a.as_ref()
                    .map(|d| d.teacher_stats.clone())
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    };
    let zone_note = format!("Days are read in {}.", ctx.time_zone);
    view! {
        <PayrollSection />
        <h2>"Under the filters"</h2>
        <Transition>
            <Show when=move || error().is_some()>
                <p class="error" role="alert">{error}</p>
            </Show>
            <table id="teacher-stats">
                <thead>
                    <tr>
                        <th>"Teacher"</th><th>"Sessions"</th><th>"Hours"</th><th>"Average"</th>
                        <th>"Timeout rate"</th><th>"Active now"</th>
                    </tr>
                </thead>
                <tbody>
                    <For each=rows key=|r| (r.teacher.id.clone(), r.sessions, r.active_now, r.total_duration_minutes) let:row>
                        {
                            let ctx = ctx.clone();
                            let id = row.teacher.id.clone();
                            view! {
                                <tr class="link" data-teacher=row.teacher.id.clone()
                                    title="Open this teacher's sessions"
                                    on:click=move |_| {
                                        let id = id.clone();
                                        ctx.set_filter(|f| f.teacher = Some(id));
                                        ctx.show(View::Sessions);
                                    }>
                                    <td>{row.teacher.name.clone()}</td>
                                    <td>{row.sessions}</td>
                                    <td>{format!("{:.1}", row.total_duration_minutes as f64 / 60.0)}</td>
                                    <td>{row.avg_duration_minutes.map(|m| format!("{m:.1} min")).unwrap_or_else(|| "–".into())}</td>
                                    <td>{row.timeout_rate.map(|r| format!("{:.0} %", r * 100.0)).unwrap_or_else(|| "–".into())}</td>
                                    <td>{row.active_now}</td>
                                </tr>
                            }
                        }
                    </For>
                </tbody>
            </table>
            <Show when=move || rows().is_empty()>
                <p class="muted">"No teacher has sessions under these filters."</p>
            </Show>
        </Transition>
        <p class="muted">{zone_note}</p>
    }
}
