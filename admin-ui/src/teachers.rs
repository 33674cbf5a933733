//! Teacher performance under the current filters; a row opens that teacher's sessions.

use leptos::prelude::*;

use crate::{
    api::{TeacherStatsQuery, teacher_stats_query},
    app::{Latest, ctx},
    state::View,
};

#[component]
pub fn TeachersView() -> impl IntoView {
    let ctx = ctx();
    let rows = RwSignal::new(Vec::<teacher_stats_query::TeacherStatsQueryTeacherStats>::new());
    let error = RwSignal::new(None::<String>);
    let request = Latest::new();
    let load_ctx = ctx.clone();
    Effect::new(move |_| {
        let ctx = load_ctx.clone();
        let filter = ctx
            .route
            .with(|r| r.filter.teacher_stats_query(&ctx.time_zone));
        ctx.epoch.track();
        ctx.stats.track();
        request.run::<TeacherStatsQuery>(
            &ctx,
            teacher_stats_query::Variables {
                filter: Some(filter),
            },
            error,
            move |data| rows.set(data.teacher_stats),
        );
    });
    let zone_note = format!("Days are read in {}.", ctx.time_zone);
    view! {
        <Show when=move || error.get().is_some()>
            <p class="error" role="alert">{move || error.get()}</p>
        </Show>
        <table id="teacher-stats">
            <thead>
                <tr>
                    <th>"Teacher"</th><th>"Sessions"</th><th>"Hours"</th><th>"Average"</th>
                    <th>"Timeout rate"</th><th>"Active now"</th>
                </tr>
            </thead>
            <tbody>
                <For each=move || rows.get() key=|r| (r.teacher.id.clone(), r.sessions, r.active_now, r.total_duration_minutes) let:row>
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
        <Show when=move || rows.with(Vec::is_empty)>
            <p class="muted">"No teacher has sessions under these filters."</p>
        </Show>
        <p class="muted">{zone_note}</p>
    }
}
