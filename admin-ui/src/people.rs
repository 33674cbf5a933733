//! Teachers and students: create and list them, give a teacher an API key, and issue a link
//! (showing its tracking URL and its Telegram message as it goes out).

use leptos::{prelude::*, task::spawn_local};

use crate::{
    api::{
        CreateStudent, CreateTeacher, CreateTeacherKey, IssueLink, LinkNotification, Resend,
        create_student, create_teacher, create_teacher_key as key_op, issue_link,
        link_notification, resend,
    },
    context::{Ctx, ctx},
    format,
};

#[component]
pub fn PeopleView() -> impl IntoView {
    let ctx = ctx();
    let teachers_ctx = ctx.clone();
    view! {
        <div class="people">
            <section>
                <h2>"Teachers"</h2>
                <PersonForm kind=Kind::Teacher />
                <ul id="teachers">
                    <For each=move || teachers_ctx.teachers() key=|t| t.id.clone() let:t>
                        <li>
                            <strong>{t.name.clone()}</strong>
                            <span class="muted">{format!(" · Telegram {} · since {}", t.telegram_chat_id, format::local_time(&t.created_at))}</span>
                            <TeacherKey teacher=t.id.clone() />
                        </li>
                    </For>
                </ul>
            </section>
            <section>
                <h2>"Students"</h2>
                <PersonForm kind=Kind::Student />
                <ul id="students">
                    <For each=move || ctx.students() key=|s| s.id.clone() let:s>
                        <li>
                            <strong>{s.name.clone()}</strong>
                            <span class="muted">{s.telegram_chat_id.as_deref().map(|chat| format!(" · Telegram {chat}")).unwrap_or_default()}</span>
                        </li>
                    </For>
                </ul>
            </section>
            <section>
                <h2>"Issue a Zoom link"</h2>
                <IssueLinkForm />
            </section>
        </div>
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Teacher,
    Student,
}

#[component]
fn PersonForm(kind: Kind) -> impl IntoView {
    let ctx = ctx();
    let name = RwSignal::new(String::new());
    let chat = RwSignal::new(String::new());
    let message = RwSignal::new(None::<(bool, String)>);
    let prefix = if kind == Kind::Teacher {
        "teacher"
    } else {
        "student"
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let ctx = ctx.clone();
        let (n, c) = (name.get_untracked(), chat.get_untracked());
        spawn_local(async move {
            let created = match kind {
                Kind::Teacher => ctx
                    .fetch::<CreateTeacher>(create_teacher::Variables {
                        name: n.clone(),
                        chat: c,
                    })
                    .await
                    .map(|_| ()),
                Kind::Student => ctx
                    .fetch::<CreateStudent>(create_student::Variables {
                        name: n.clone(),
                        chat: c,
                    })
                    .await
                    .map(|_| ()),
            };
            match created {
                Ok(()) => {
                    name.set(String::new());
                    chat.set(String::new());
                    message.set(Some((true, format!("Added {n}."))));
                    ctx.reload_people();
                }
                Err(text) => message.set(Some((false, text))),
            }
        });
    };
    view! {
        <form class="inline" on:submit=submit>
            <input id=format!("{prefix}-name") placeholder="Name" required
                prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
            <input id=format!("{prefix}-chat") placeholder="Telegram chat id" required
                prop:value=move || chat.get() on:input=move |ev| chat.set(event_target_value(&ev)) />
            <button id=format!("{prefix}-add") type="submit">"Add"</button>
            {move || message.get().map(|(ok, text)| view! {
                <span class=if ok { "ok" } else { "error" } role="status">{text}</span>
            })}
        </form>
    }
}

/// A TEACHER credential for one teacher, shown once.
#[component]
fn TeacherKey(teacher: String) -> impl IntoView {
    let ctx = ctx();
    let token = RwSignal::new(None::<Result<String, String>>);
    let create = move |_| {
        let ctx = ctx.clone();
        let teacher = teacher.clone();
        spawn_local(async move {
            let answer = ctx
                .fetch::<CreateTeacherKey>(key_op::Variables {
                    teacher_id: teacher,
                })
                .await;
            token.set(Some(answer.map(|d| d.create_api_key.token)));
        });
    };
    view! {
        <button class="quiet" on:click=create>"New API key"</button>
        {move || token.get().map(|answer| match answer {
            Ok(token) => view! {
                <div class="secret">"Shown only now: " <code class="api-key">{token}</code></div>
            }.into_any(),
            Err(err) => view! { <span class="error">{err}</span> }.into_any(),
        })}
    }
}

/// What became of an issued link.
#[derive(Clone, PartialEq)]
struct Issued {
    id: String,
    tracking_url: String,
}

#[component]
fn IssueLinkForm() -> impl IntoView {
    let ctx = ctx();
    let teachers_ctx = ctx.clone();
    let teacher = RwSignal::new(String::new());
    let student = RwSignal::new(String::new());
    let zoom = RwSignal::new(String::new());
    let issued = RwSignal::new(None::<Issued>);
    let error = RwSignal::new(None::<String>);
    let submit_ctx = ctx.clone();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let ctx = submit_ctx.clone();
        let variables = issue_link::Variables {
            teacher_id: teacher.get_untracked(),
            student_id: student.get_untracked(),
            zoom_url: zoom.get_untracked(),
        };
        spawn_local(async move {
            match ctx.fetch::<IssueLink>(variables).await {
                Ok(data) => {
                    error.set(None);
                    issued.set(Some(Issued {
                        id: data.issue_zoom_link.id,
                        tracking_url: data.issue_zoom_link.tracking_url.unwrap_or_default(),
                    }));
                }
                Err(text) => error.set(Some(text)),
            }
        });
    };
    view! {
        <form class="issue" on:submit=submit>
            <label>"Teacher "
                <select id="link-teacher" required on:change=move |ev| teacher.set(event_target_value(&ev))>
                    <option value="">"Choose…"</option>
                    {move || teachers_ctx.teachers().into_iter().map(|t| view! { <option value=t.id>{t.name}</option> }).collect_view()}
                </select>
            </label>
            <label>"Student "
                <select id="link-student" required on:change=move |ev| student.set(event_target_value(&ev))>
                    <option value="">"Choose…"</option>
                    {move || ctx.students().into_iter().map(|s| view! { <option value=s.id>{s.name}</option> }).collect_view()}
                </select>
            </label>
            <label>"Zoom URL "
                <input id="link-zoom" type="url" required placeholder="https://us02web.zoom.us/j/…"
                    prop:value=move || zoom.get() on:input=move |ev| zoom.set(event_target_value(&ev)) />
            </label>
            <button id="link-issue" type="submit">"Issue link"</button>
        </form>
        <Show when=move || error.get().is_some()>
            <p class="error" role="alert" id="link-error">{move || error.get()}</p>
        </Show>
        {move || issued.get().map(|link| view! { <IssuedLink link /> })}
    }
}

#[component]
fn IssuedLink(link: Issued) -> impl IntoView {
    let ctx = ctx();
    let state = RwSignal::new(None::<link_notification::LinkNotificationSession>);
    let alive = StoredValue::new(true);
    on_cleanup(move || alive.set_value(false));
    watch_notification(ctx.clone(), link.id.clone(), state, alive);
    let resend_ctx = ctx.clone();
    let id = link.id.clone();
    let resend = move |_| {
        let ctx = resend_ctx.clone();
        let id = id.clone();
        spawn_local(async move {
            if ctx
                .fetch::<Resend>(resend::Variables { id: id.clone() })
                .await
                .is_ok()
            {
                watch_notification(ctx, id, state, alive);
            }
        });
    };
    let url = link.tracking_url.clone();
    view! {
        <div class="issued">
            <p>"Tracking URL (the student opens this): "
                <a id="tracking-url" href=url.clone() target="_blank" rel="noopener">{url.clone()}</a>
            </p>
            <p>"Telegram message: "
                <span id="notification-state">{move || state.get().map(|s| describe(&s)).unwrap_or_else(|| "…".into())}</span>
                " "
                <button class="quiet" id="notification-resend" on:click=resend>"Send again"</button>
            </p>
        </div>
    }
}

fn describe(s: &link_notification::LinkNotificationSession) -> String {
    use link_notification::NotificationStatus as N;
    let attempts = match s.notification_attempts {
        1 => " (1 attempt)".to_owned(),
        n if n > 1 => format!(" ({n} attempts)"),
        _ => String::new(),
    };
    let why = s
        .notification_last_error
        .as_deref()
        .map(|e| format!(": {e}"))
        .unwrap_or_default();
    match s.notification_status {
        N::SENT => format!("sent{attempts}"),
        N::PENDING => format!("waiting to be sent{attempts}{why}"),
        N::SENDING => format!("sending{attempts}"),
        N::FAILED => format!("failed{attempts}{why}"),
        N::DISABLED => "off: the server has no Telegram bot token".into(),
        _ => "unknown".into(),
    }
}

/// Follows the message until it is settled (sent, failed or off).
fn watch_notification(
    ctx: Ctx,
    id: String,
    state: RwSignal<Option<link_notification::LinkNotificationSession>>,
    alive: StoredValue<bool>,
) {
    use link_notification::NotificationStatus as N;
    spawn_local(async move {
        for _ in 0..120 {
            if !alive.try_get_value().unwrap_or(false) {
                return;
            }
            match ctx
                .fetch::<LinkNotification>(link_notification::Variables { id: id.clone() })
                .await
            {
                Ok(data) => {
                    let settled = matches!(
                        data.session.notification_status,
                        N::SENT | N::FAILED | N::DISABLED
                    );
                    state.set(Some(data.session));
                    if settled {
                        return;
                    }
                }
                Err(_) => return,
            }
            gloo_timers::future::TimeoutFuture::new(1000).await;
        }
    });
}
