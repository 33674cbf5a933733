//! Charts drawn as SVG by the app itself.

use leptos::prelude::*;

/// One bar: its label under it and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: i64,
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 40.0;
const BOTTOM: f64 = 28.0;

/// A bar chart; labels are thinned out when they would overlap.
#[component]
pub fn BarChart(
    /// The chart's name, read by screen readers and shown as its title.
    title: &'static str,
    bars: Vec<Bar>,
    #[prop(optional)] id: &'static str,
) -> impl IntoView {
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1) as f64;
    let slot = (WIDTH - LEFT) / bars.len().max(1) as f64;
    let label_every = ((bars.len() as f64 * 48.0) / (WIDTH - LEFT))
        .ceil()
        .max(1.0) as usize;
    let plot = HEIGHT - BOTTOM;
    let rects = bars
        .iter()
        .enumerate()
        .map(|(i, bar)| {
            let h = bar.value as f64 / max * (plot - 10.0);
            let x = LEFT + i as f64 * slot + slot * 0.15;
            let label = (i % label_every == 0).then(|| {
                view! {
                    <text x=format!("{:.1}", x + slot * 0.35) y=format!("{:.1}", HEIGHT - 10.0)
                        text-anchor="middle" class="axis">{bar.label.clone()}</text>
                }
            });
            view! {
                <g>
                    <rect class="bar" x=format!("{x:.1}") y=format!("{:.1}", plot - h)
                        width=format!("{:.1}", slot * 0.7) height=format!("{h:.1}")>
                        <title>{format!("{}: {}", bar.label, bar.value)}</title>
                    </rect>
                    {label}
                </g>
            }
        })
        .collect_view();
    view! {
        <figure class="chart" id=id>
            <figcaption>{title}</figcaption>
            <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-label=title>
                <line class="axis-line" x1=LEFT y1=plot x2=WIDTH y2=plot />
                <text x="4" y="14" class="axis">{max as i64}</text>
                <text x="4" y=format!("{plot:.0}") class="axis">"0"</text>
                {rects}
            </svg>
        </figure>
    }
}
