//! Sign-in and the dashboard's frame: navigation, connection state, filters, export and
//! auto-timeout. The frame provides the context the views share.

use std::rc::Rc;

use futures::channel::oneshot;
use leptos::{prelude::*, task::spawn_local};

use crate::{
    api::{self, AutoTimeout, Me, me},
    context::{Ctx, LiveEvent, ctx},
    export, format,
    keys::KeysView,
    lesson::LessonPage,
    live::{self, Handlers, LinkState},
    not_opened::NotOpenedView,
    overview::OverviewView,
    people::PeopleView,
    session::Credential,
    sessions::SessionsView,
    state::{Attendance, Filter, Route, Status, View},
    teachers::TeachersView,
};

/// Events kept for a view that is not reading them; it reloads when it opens anyway.
const MAX_QUEUED_EVENTS: usize = 500;

#[component]
pub fn App() -> impl IntoView {
    let signed_in = RwSignal::new(Credential::stored());
    let notice = RwSignal::new(None::<String>);
    move || match signed_in.get() {
        None => view! { <SignIn signed_in notice /> }.into_any(),
        Some(credential) => view! { <Dashboard credential signed_in notice /> }.into_any(),
    }
}

#[component]
fn SignIn(
    signed_in: RwSignal<Option<Credential>>,
    notice: RwSignal<Option<String>>,
) -> impl IntoView {
    let token = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(credential) = Credential::new(&token.get_untracked()) else {
            notice.set(Some("Enter your admin token.".into()));
            return;
        };
        busy.set(true);
        spawn_local(async move {
            let answer = api::run::<Me>(&credential, me::Variables {}).await;
            busy.set(false);
            match answer {
                Ok(data) if data.me.role == me::ApiRole::ADMIN => {
                    credential.keep();
                    notice.set(None);
                    signed_in.set(Some(credential));
                }
                Ok(_) => notice.set(Some(
                    "This is a teacher's credential. The dashboard needs an admin credential."
                        .into(),
                )),
                Err(err) if err.is_unauthenticated() => notice.set(Some(
                    "This credential is not valid or has been revoked.".into(),
                )),
                Err(err) => notice.set(Some(err.message)),
            }
        });
    };
    view! {
        <main class="sign-in">
            <h1>"zoomtrack"</h1>
            <p class="muted">"How long each Zoom lesson really lasted."</p>
            <form on:submit=submit>
                <label for="token">"Admin token"</label>
                <input id="token" type="password" autocomplete="current-password" required
                    prop:value=move || token.get()
                    on:input=move |ev| token.set(event_target_value(&ev)) />
                <button id="sign-in" type="submit" disabled=move || busy.get()>"Sign in"</button>
            </form>
            <Show when=move || notice.get().is_some()>
                <p id="sign-in-error" class="error" role="alert">{move || notice.get()}</p>
            </Show>
        </main>
    }
}

#[component]
fn Dashboard(
    credential: Credential,
    signed_in: RwSignal<Option<Credential>>,
    notice: RwSignal<Option<String>>,
) -> impl IntoView {
    let ctx = Ctx::new(credential, signed_in, notice);
    provide_context(ctx.clone());
    let route = ctx.route;

    // The URL follows the view and the filters.
    Effect::new(move |_| route.with(Route::publish));

    // The clock that makes running sessions tick.
    let now = ctx.now;
    let ticker = StoredValue::new_local(Some(gloo_timers::callback::Interval::new(
        1000,
        move || now.set(format::now_ms()),
    )));
    on_cleanup(move || ticker.set_value(None));

    let link = RwSignal::new(LinkState::Connecting);
    let stop: StoredValue<Option<oneshot::Sender<()>>> = StoredValue::new(None);
    let live_ctx = ctx.clone();
    // Only a change of filter restarts the live link (not a change of view or order).
    let filter = ctx.filter;
    Effect::new(move |_| {
        let filter = filter.get();
        // The numbers shown belonged to the previous filter.
        live_ctx.stats.set(None);
        if let Some(old) = stop.write_value().take() {
            let _ = old.send(());
        }
        let (tx, rx) = oneshot::channel();
        stop.set_value(Some(tx));
        let ctx = live_ctx.clone();

        let handlers = Rc::new(Handlers {
            state: link,
            on_open: Box::new({
                let epoch = ctx.epoch;
                move || epoch.update(|e| *e += 1)
            }),
            on_stats: Box::new({
                let stats = ctx.stats;
                move |data| stats.set(Some(data.session_stats.into()))
            }),
            on_event: Box::new({
                let events = ctx.events;
                move |data| {
                    let e = data.session_events;
                    events.update(|queue| {
                        if queue.len() >= MAX_QUEUED_EVENTS {
                            queue.remove(0);
                        }
                        queue.push(LiveEvent {
                            kind: format!("{:?}", e.kind),
                            row: e.session.into(),
                        });
                    });
                }
            }),
        });
        spawn_local(live::run(
            ctx.credential.clone(),
            api::live_stats::Variables {
                filter: Some(filter.live_stats(&ctx.time_zone)),
            },
            // Events for every status and attendance: a session that leaves those filters must
            // leave the table too.
            api::session_events::Variables {
                filter: Some(
                    Filter {
                        statuses: Vec::new(),
                        attendance: Vec::new(),
                        ..filter
                    }
                    .session_events(&ctx.time_zone),
                ),
            },
            handlers,
            rx,
        ));
    });
    on_cleanup(move || {
        if let Some(old) = stop.write_value().take() {
            let _ = old.send(());
        }
    });
    // A refused live link may mean the credential was revoked: ask once over HTTP, which
    // signs out when it was.
    let check_ctx = ctx.clone();
    Effect::new(move |_| {
        if let LinkState::Refused(_) = link.get() {
            let check = check_ctx.fetch::<Me>(me::Variables {});
            spawn_local(async move {
                let _ = check.await;
            });
        }
    });

    let sign_out = move |_| {
        if let Some(old) = stop.write_value().take() {
            let _ = old.send(());
        }
        Credential::forget();
        notice.set(Some("Signed out.".into()));
        signed_in.set(None);
    };
    let view = move || route.with(|r| r.view);
    let session = move || route.with(|r| r.session.clone());
    view! {
        <header class="top">
            <h1>"zoomtrack"</h1>
            <nav>
                {View::ALL
                    .into_iter()
                    .map(|v| {
                        view! {
                            <button id=format!("nav-{}", v.key()) class="tab"
                                class:current=move || view() == v
                                on:click=move |_| route.update(|r| { r.view = v; r.session = None; })>
                                {v.title()}
                            </button>
                        }
                    })
                    .collect_view()}
            </nav>
            <span id="connection" class="connection"
                class:live=move || link.get() == LinkState::Live
                title="The live link to the server: statistics and sessions update by themselves while it is Live">
                {move || link.get().label()}
            </span>
            <AutoTimeoutButton />
            <button id="sign-out" class="quiet" on:click=sign_out>"Sign out"</button>
        </header>
        <Show when=move || !matches!(view(), View::People | View::Keys) && session().is_none()>
            <FilterBar />
        </Show>
        <main class="content">
            {move || match (session(), view()) {
                (Some(id), _) => view! { <LessonPage id /> }.into_any(),
                (None, view) => match view {
                View::Overview => view! { <OverviewView /> }.into_any(),
                View::Sessions => view! { <SessionsView /> }.into_any(),
                View::NotOpened => view! { <NotOpenedView /> }.into_any(),
                View::Teachers => view! { <TeachersView /> }.into_any(),
                View::People => view! { <PeopleView /> }.into_any(),
                View::Keys => view! { <KeysView /> }.into_any(),
                },
            }}
        </main>
    }
}

/// Teacher, student search, status and days; and the CSV export of exactly these sessions.
#[component]
fn FilterBar() -> impl IntoView {
    let ctx = ctx();
    let route = ctx.route;
    let filter = move || route.with(|r| r.filter.clone());
    // The search applies when typing pauses.
    let typed = RwSignal::new(filter().search);
    let pending = StoredValue::new_local(None::<gloo_timers::callback::Timeout>);
    let search_ctx = ctx.clone();
    let on_search = move |ev| {
        typed.set(event_target_value(&ev));
        let ctx = search_ctx.clone();
        let timer = gloo_timers::callback::Timeout::new(300, move || {
            ctx.set_filter(|f| f.search = typed.get_untracked());
        });
        pending.set_value(Some(timer));
    };
    let export_error = RwSignal::new(None::<String>);
    let export_ctx = ctx.clone();
    let export = move |_| {
        let ctx = export_ctx.clone();
        let url = filter().csv_url(&ctx.time_zone);
        spawn_local(async move {
            let name = format!("sessions-{}.csv", format::today());
            export_error.set(export::download(&ctx.credential, &url, &name).await.err());
        });
    };
    let statuses = Status::ALL
        .into_iter()
        .map(|status| {
            let ctx = ctx.clone();
            view! {
                <label class="check">
                    <input type="checkbox" id=format!("status-{}", status.key())
                        prop:checked=move || route.with(|r| r.filter.statuses.contains(&status))
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            ctx.set_filter(|f| {
                                f.statuses.retain(|s| *s != status);
                                if on {
                                    f.statuses.push(status);
                                    f.statuses.sort_by_key(|s| s.key());
                                }
                            });
                        } />
                    {status.label()}
                </label>
            }
        })
        .collect_view();
    let attendance = Attendance::ALL
        .into_iter()
        .map(|state| {
            let ctx = ctx.clone();
            view! {
                <label class="check">
                    <input type="checkbox" id=format!("attendance-{}", state.key())
                        prop:checked=move || route.with(|r| r.filter.attendance.contains(&state))
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            ctx.set_filter(|f| {
                                f.attendance.retain(|a| *a != state);
                                if on {
                                    f.attendance.push(state);
                                    f.attendance.sort_by_key(|a| a.key());
                                }
                            });
                        } />
                    {state.label()}
                </label>
            }
        })
        .collect_view();
    let session_only = move || route.with(|r| r.view == View::NotOpened).then_some("none");
    let teacher_ctx = ctx.clone();
    let from_ctx = ctx.clone();
    let to_ctx = ctx.clone();
    let clear_ctx = ctx.clone();
    view! {
        <section class="filters" aria-label="Filters">
            <label>"Teacher "
                <select id="filter-teacher"
                    prop:value=move || filter().teacher.unwrap_or_default()
                    on:change=move |ev| {
                        let id = event_target_value(&ev);
                        teacher_ctx.set_filter(|f| f.teacher = (!id.is_empty()).then_some(id));
                    }>
                    <option value="" selected=move || filter().teacher.is_none()>"All teachers"</option>
                    {move || ctx.teachers().into_iter().map(|t| {
                        let id = t.id.clone();
                        view! {
                            <option value=t.id.clone()
                                selected=move || route.with(|r| r.filter.teacher.as_deref() == Some(id.as_str()))>
                                {t.name}
                            </option>
                        }
                    }).collect_view()}
                </select>
            </label>
            <label>"Search "
                <input id="filter-search" type="search" placeholder="Teacher or student name"
                    prop:value=move || typed.get() on:input=on_search />
            </label>
            // Links never opened have neither a status nor these states.
            <span class="statuses" style:display=session_only>{statuses}</span>
            <span class="statuses" style:display=session_only
                title="Planned lessons only: how each went against its plan">{attendance}</span>
            <label>"From "
                <input id="filter-from" type="date" prop:value=move || filter().from
                    on:change=move |ev| from_ctx.set_filter(|f| f.from = event_target_value(&ev)) />
            </label>
            <label>"To "
                <input id="filter-to" type="date" prop:value=move || filter().to
                    on:change=move |ev| to_ctx.set_filter(|f| f.to = event_target_value(&ev)) />
            </label>
            <button class="quiet" id="filter-clear" on:click=move |_| {
                pending.set_value(None);
                typed.set(String::new());
                clear_ctx.set_filter(|f| *f = Filter::default());
            }>"Clear"</button>
            <button id="export-csv" on:click=export
                title="Every session these filters select, as CSV (days in your time zone)">
                "Export CSV"
            </button>
            <Show when=move || export_error.get().is_some()>
                <span class="error" role="alert">{move || export_error.get()}</span>
            </Show>
        </section>
    }
}

/// Runs the auto-timeout now, after a confirmation, and says how many sessions it ended.
#[component]
fn AutoTimeoutButton() -> impl IntoView {
    let ctx = ctx();
    let asking = RwSignal::new(false);
    let result = RwSignal::new(None::<String>);
    let run = move |_| {
        asking.set(false);
        let answer = ctx.fetch::<AutoTimeout>(api::auto_timeout::Variables {});
        spawn_local(async move {
            let text = match answer.await {
                Ok(data) => match data.run_auto_timeout {
                    0 => "No session was idle long enough: none ended.".to_owned(),
                    1 => "Ended 1 idle session.".to_owned(),
                    n => format!("Ended {n} idle sessions."),
                },
                Err(text) => text,
            };
            result.set(Some(text));
        });
    };
    view! {
        <button id="auto-timeout" class="quiet" on:click=move |_| { result.set(None); asking.set(true) }>
            "Run auto-timeout"
        </button>
        <Show when=move || asking.get()>
            <div class="dialog" role="dialog" aria-modal="true" id="confirm-timeout">
                <p>"End every active session that has had no activity for longer than the session timeout? Each ends at its last activity."</p>
                <button id="confirm-timeout-yes" on:click=run.clone()>"End idle sessions"</button>
                <button class="quiet" on:click=move |_| asking.set(false)>"Cancel"</button>
            </div>
        </Show>
        <Show when=move || result.get().is_some()>
            <div class="toast" role="status">
                <span id="timeout-result">{move || result.get()}</span>
                <button class="quiet" on:click=move |_| result.set(None)>"×"</button>
            </div>
        </Show>
    }
}
