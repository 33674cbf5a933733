//! The benchmark's one Markdown table: a column per database, each figure beside its floor
//! and target.

use zoomtrack_tests::Backend;

use crate::{
    Floor, Run, Sizes,
    load::{CONNECTIONS, Latency, Throughput},
    processes::Cores,
};

pub struct Report<'a> {
    pub floor: &'a Floor,
    pub floor_instructions: Option<f64>,
    pub runs: &'a [(Backend, Option<Run>)],
    pub sizes: Sizes,
    pub cores: Cores,
}

fn ratio(value: f64, base: f64) -> String {
    format!("{:.2}×", value / base)
}

fn errors(count: u64) -> String {
    if count == 0 {
        String::new()
    } else {
        format!(", {count} errors")
    }
}

pub fn print(report: &Report) {
    let Report {
        floor,
        floor_instructions,
        runs,
        sizes,
        cores,
    } = report;
    let measured: Vec<(Backend, &Run)> = runs
        .iter()
        .filter_map(|(backend, run)| run.as_ref().map(|run| (*backend, run)))
        .collect();
    let base = floor.saturated.per_second;
    let live = sizes.live;
    println!(
        "\n## Hot paths: {} sessions of history, {} s per measurement, {CONNECTIONS} connections \
         at saturation\n\n{}.\n",
        sizes.history,
        sizes.seconds,
        cores.describe()
    );
    let mut header = String::from("| measure | target |");
    let mut rule = String::from("|---|---|");
    for (backend, run) in &measured {
        header.push_str(&format!(
            " {backend:?} (seeded in {:.0} s) |",
            run.seeded_in
        ));
        rule.push_str("---:|");
    }
    println!("{header}\n{rule}");
    let row = |name: &str, target: &str, cell: &dyn Fn(&Run) -> String| {
        let mut line = format!("| {name} | {target} |");
        for (_, run) in &measured {
            line.push_str(&format!(" {} |", cell(run)));
        }
        println!("{line}");
    };
    row("floor: bare axum JSON handler, requests/s", "", &|_| {
        format!("{base:.0}")
    });
    row("floor: server CPU per request, µs", "", &|_| {
        format!("{:.1}", floor.saturated.cpu_us)
    });
    row("floor: p50 / p99 ms at the heartbeat rate", "", &|_| {
        format!("{:.2} / {:.2}", floor.latency.p50, floor.latency.p99)
    });
    let throughput = |t: &Throughput, floor: f64| {
        format!(
            "{:.0} ({} of floor{})",
            t.per_second,
            ratio(t.per_second, floor),
            errors(t.errors)
        )
    };
    let latency = |l: &Latency| format!("{:.2} / {:.2}{}", l.p50, l.p99, errors(l.errors));
    row("`heartbeat` requests/s", "", &|r| {
        throughput(&r.heartbeat.0, base)
    });
    row(
        "`heartbeat` server CPU per request, µs (÷ floor's)",
        "≤ 1.3×",
        &|r| {
            format!(
                "{:.1} ({})",
                r.heartbeat.0.cpu_us,
                ratio(r.heartbeat.0.cpu_us, floor.saturated.cpu_us)
            )
        },
    );
    row(
        "`heartbeat` first beat of each session, requests/s (÷ later beats)",
        "≥ 0.5×",
        &|r| {
            format!(
                "{:.0} ({})",
                r.first_beats,
                ratio(r.first_beats, r.heartbeat.0.per_second)
            )
        },
    );
    row("`heartbeat` p50 / p99 ms at 3,500/s", "p99 < 20", &|r| {
        latency(&r.heartbeat.1)
    });
    row(
        "database floor: its own durable single-row `UPDATE` by token, per second",
        "",
        &|r| format!("{:.0}", r.database_floor),
    );
    type Path = fn(&Run) -> &(Throughput, Latency);
    let writes: [(&str, &str, Path); 2] = [
        ("`track` (first click)", "p99 < 20", |r| &r.track),
        ("`end-session` (first end)", "", |r| &r.end),
    ];
    for (name, latency_target, path) in writes {
        row(
            &format!("{name} requests/s (÷ database floor)"),
            "≥ 0.25×",
            &|r| throughput(&path(r).0, r.database_floor),
        );
        row(&format!("{name} server CPU per request, µs"), "", &|r| {
            format!("{:.1}", path(r).0.cpu_us)
        });
        row(
            &format!("{name} p50 / p99 ms at 300/s"),
            latency_target,
            &|r| latency(&path(r).1),
        );
    }
    for (i, (name, _, _)) in measured
        .first()
        .map(|(_, run)| run.stats.clone())
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        row(&format!("{name}: p50 / p95 ms"), "p95 < 50", &|r| {
            let (_, p50, p95) = r.stats[i];
            format!("{p50:.1} / {p95:.1}")
        });
    }
    row(&format!("sweep of {live} stale sessions, s"), "< 2", &|r| {
        format!("{:.2} ({} ended)", r.sweep_seconds, r.swept)
    });
    row(
        &format!("sweep floor: the database's own `UPDATE` ending {live} sessions, s (sweep ÷)"),
        "",
        &|r| {
            format!(
                "{:.2} ({})",
                r.sweep_floor,
                ratio(r.sweep_seconds, r.sweep_floor)
            )
        },
    );
    row(
        "`heartbeat` p99 ms at 3,500/s while sweeping (before)",
        "≤ 1.5× before",
        &|r| {
            format!(
                "{:.2} ({:.2}; {})",
                r.beat_p99_sweeping,
                r.beat_p99_before,
                ratio(r.beat_p99_sweeping, r.beat_p99_before)
            )
        },
    );
    row("server memory (RSS) idle, MiB", "< 50", &|r| {
        format!("{:.1}", r.idle_rss)
    });
    row("server memory (RSS) under load, peak MiB", "", &|r| {
        format!("{:.1}", r.load_rss)
    });
    if let Some(floor) = floor_instructions {
        let names = ["`heartbeat`", "`track` (first click)", "`end-session`"];
        for (i, name) in names.iter().enumerate() {
            row(
                &format!("{name} instructions per request (÷ floor's {floor:.0})"),
                "",
                &|r| match r.instructions {
                    Some(counts) => format!("{:.0} ({})", counts[i], ratio(counts[i], *floor)),
                    None => "not counted".to_owned(),
                },
            );
        }
    }
    println!(
        "\n{} teachers; {live} live sessions beat, {live} links are clicked, {live} sessions end, \
         {live} go stale. Instructions: `valgrind --tool=callgrind`, one Tokio worker, {} \
         requests one at a time; on SQLite they include the database's work.",
        zoomtrack_tests::bench::TEACHERS,
        sizes.counted
    );
}
