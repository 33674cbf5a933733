//! The live overview: statistics cards that follow the subscription, and the charts.

use leptos::prelude::*;

use crate::{
    api::{Overview, overview},
    app::{Latest, ctx},
    charts::{Bar, BarChart},
    convert::Stats,
    format,
};

/// The charts reload at most this often while sessions change.
const CHART_REFRESH_MS: u32 = 2000;

#[component]
pub fn OverviewView() -> impl IntoView {
    let ctx = ctx();
    let charts = RwSignal::new(None::<overview::ResponseData>);
    let error = RwSignal::new(None::<String>);
    let request = Latest::new();
    let waiting = StoredValue::new_local(None::<gloo_timers::callback::Timeout>);
    let load_ctx = ctx.clone();
    let load = move || {
        let ctx = load_ctx.clone();
        let filter = ctx
            .route
            .with_untracked(|r| r.filter.overview(&ctx.time_zone));
        let stats = ctx.stats;
        request.run::<Overview>(
            &ctx,
            overview::Variables {
                filter: Some(filter),
            },
            error,
            move |data| {
                if stats.get_untracked().is_none() {
                    stats.set(Some(data.session_stats.clone().into()));
                }
                charts.set(Some(data));
            },
        );
    };
    // Right away on a new filter or connection; a changing total reloads the charts, throttled.
    let now_load = load.clone();
    Effect::new(move |_| {
        ctx.route.with(|r| r.filter.clone());
        ctx.epoch.track();
        now_load();
    });
    Effect::new(move |first: Option<()>| {
        ctx.stats.track();
        if first.is_some() && waiting.with_value(Option::is_none) {
            let load = load.clone();
            waiting.set_value(Some(gloo_timers::callback::Timeout::new(
                CHART_REFRESH_MS,
                move || {
                    waiting.set_value(None);
                    load();
                },
            )));
        }
    });
    on_cleanup(move || waiting.set_value(None));

    let stat = move |pick: fn(&Stats) -> String| {
        move || {
            ctx.stats
                .with(|s| s.as_ref().map(pick).unwrap_or_else(|| "…".into()))
        }
    };
    view! {
        <section class="cards" aria-label="Statistics">
            <Card id="stat-total" label="Sessions" value=stat(|s| s.total.to_string()) />
            <Card id="stat-active" label="Active now" value=stat(|s| s.active.to_string()) />
            <Card id="stat-ended" label="Ended" value=stat(|s| s.ended.to_string()) />
            <Card id="stat-timeout" label="Timed out" value=stat(|s| s.timeout.to_string()) />
            <Card id="stat-total-duration" label="Total duration"
                value=stat(|s| format::minutes(s.total_minutes)) />
            <Card id="stat-average-duration" label="Average duration"
                value=stat(|s| s.average_minutes.map(|m| format!("{m:.1} min")).unwrap_or_else(|| "–".into())) />
            <Card id="stat-never-clicked" label="Links never opened"
                value=stat(|s| s.never_clicked.to_string()) />
        </section>
        <Show when=move || error.get().is_some()>
            <p class="error" role="alert">{move || error.get()}</p>
        </Show>
        <section class="charts">
            {move || charts.get().map(|data| {
                let days: Vec<_> = data.daily_stats.iter().map(|d| (d.day.get(5..).unwrap_or(&d.day).to_owned(), d)).collect();
                let sessions = days.iter().map(|(label, d)| Bar { label: label.clone(), value: d.sessions }).collect();
                let minutes = days.iter().map(|(label, d)| Bar { label: label.clone(), value: d.duration_minutes }).collect();
                let lengths = data.duration_distribution.iter().map(|b| Bar {
                    label: match b.to_minutes {
                        Some(to) => format!("{}–{}", b.from_minutes, to),
                        None => format!("{}+", b.from_minutes),
                    },
                    value: b.sessions,
                }).collect();
                view! {
                    <BarChart id="chart-sessions" title="Sessions per day" bars=sessions />
                    <BarChart id="chart-minutes" title="Minutes per day" bars=minutes />
                    <BarChart id="chart-durations" title="Session lengths (minutes, finished sessions)" bars=lengths />
                }
            })}
        </section>
    }
}

#[component]
fn Card(
    id: &'static str,
    label: &'static str,
    value: impl Fn() -> String + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <div class="card">
            <span class="label">{label}</span>
            <span class="value" id=id>{value}</span>
        </div>
    }
}
