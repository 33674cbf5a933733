//! Teacher performance under the current filters; a row opens that teacher's sessions.

use leptos::prelude::*;

use crate::{
    api::{TeacherStatsQuery, teacher_stats_query},
    context::ctx,
    state::View,
};

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
