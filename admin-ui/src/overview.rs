//! The live overview: statistics cards that follow the subscription, and the charts.

use leptos::prelude::*;

use crate::{
    api::{Overview, overview},
    charts::{Bar, BarChart},
    context::ctx,
    convert::Stats,
    format,
};

/// The charts reload at most this often while sessions change.
const CHART_REFRESH_MS: u32 = 2000;

#[component]
pub fn OverviewView() -> impl IntoView {
    let ctx = ctx();
    // Right away on a new filter or connection; a changing total reloads the charts, throttled.
    let load_ctx = ctx.clone();
    let charts = LocalResource::new(move || {
        let filter = load_ctx.filter.with(|f| f.overview(&load_ctx.time_zone));
        load_ctx.epoch.track();
        let answer = load_ctx.fetch::<Overview>(overview::Variables {
            filter: Some(filter),
        });
        let stats = load_ctx.stats;
        async move {
            let data = answer.await?;
            // The cards show these numbers until the live link sends its own.
            if stats.get_untracked().is_none() {
                stats.set(Some(data.session_stats.clone().into()));
            }
            Ok::<_, String>(data)
        }
    });
    let waiting = StoredValue::new_local(None::<gloo_timers::callback::Timeout>);
    Effect::new(move |first: Option<()>| {
        ctx.stats.track();
        if first.is_some() && waiting.with_value(Option::is_none) {
            waiting.set_value(Some(gloo_timers::callback::Timeout::new(
                CHART_REFRESH_MS,
                move || {
                    waiting.set_value(None);
                    charts.refetch();
                },
            )));
        }
    });
    on_cleanup(move || waiting.set_value(None));
    let error = move || charts.map(|a| a.as_ref().err().cloned()).flatten();

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
        <Show when=move || error().is_some()>
            <p class="error" role="alert">{error}</p>
        </Show>
        <section class="charts">
            <Transition>
                {move || charts.map(|answer| answer.as_ref().ok().map(|data| {
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
                }))}
            </Transition>
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
