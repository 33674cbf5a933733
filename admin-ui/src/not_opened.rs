//! Links never opened, newest first, under the filter bar's teacher, names and issue days:
//! who has not opened their lesson's link (pending, or a no-show once the planned lesson is
//! over), and the Telegram message sent again from the list.

use leptos::{prelude::*, task::spawn_local};

use crate::{
    api::{Links, Resend, links, resend},
    context::ctx,
    format,
    sessions::attendance_badge,
};

const PAGE: i64 = 25;

#[component]
pub fn NotOpenedView() -> impl IntoView {
    let ctx = ctx();
    // The cursors of the pages before the one shown, and where it starts.
    let before = RwSignal::new(Vec::<Option<String>>::new());
    let after = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        ctx.filter.track();
        before.set(Vec::new());
        after.set(None);
    });
    let load_ctx = ctx.clone();
    let page = LocalResource::new(move || {
        let mut filter = load_ctx.filter.with(|f| f.links(&load_ctx.time_zone));
        filter.status = Some(vec![links::SessionStatus::PENDING]);
        filter.attendance = None;
        load_ctx.epoch.track();
        load_ctx.fetch::<Links>(links::Variables {
            filter: Some(filter),
            first: Some(PAGE),
            after: after.get(),
        })
    });
    // A link opened meanwhile leaves the list.
    ctx.events.update_untracked(Vec::clear);
    Effect::new(move |first: Option<()>| {
        ctx.events.track();
        let batch = ctx
            .events
            .try_update_untracked(std::mem::take)
            .unwrap_or_default();
        if first.is_some() && batch.iter().any(|e| e.kind == "STARTED") {
            page.refetch();
        }
    });
    let rows = move || {
        page.map(|p| {
            p.as_ref()
                .map(|d| {
                    d.links
                        .edges
                        .iter()
                        .map(|e| e.node.clone())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
        .unwrap_or_default()
    };
    let next = move || {
        page.map(|p| {
            p.as_ref().ok().and_then(|d| {
                d.links
                    .page_info
                    .has_next_page
                    .then(|| d.links.page_info.end_cursor.clone())
                    .flatten()
            })
        })
        .flatten()
    };
    let error = move || page.map(|p| p.as_ref().err().cloned()).flatten();
    let notice = RwSignal::new(None::<Result<String, String>>);
    let loading = RwSignal::new(true);
    view! {
        <Transition set_pending=loading>
            <Show when=move || error().is_some()>
                <p class="error" role="alert">{error}</p>
            </Show>
            {move || notice.get().map(|n| match n {
                Ok(text) => view! { <p class="ok" id="resend-result" role="status">{text}</p> }.into_any(),
                Err(text) => view! { <p class="error" id="resend-error" role="alert">{text}</p> }.into_any(),
            })}
            <table id="not-opened" aria-busy=move || loading.get().to_string()>
                <thead>
                    <tr>
                        <th>"Teacher"</th><th>"Student"</th><th>"Issued"</th><th>"Planned"</th>
                        <th>"Attendance"</th><th>"Telegram message"</th><th></th>
                    </tr>
                </thead>
                <tbody>
                    <For each=rows key=|l| (l.id.clone(), format!("{:?}{:?}", l.notification_status, l.attendance)) let:link>
                        {
                            let ctx = ctx.clone();
                            let id = link.id.clone();
                            let attendance = link.attendance.as_ref().map(|a| format!("{a:?}"));
                            let planned = match (&link.planned_start, link.planned_minutes) {
                                (Some(at), Some(m)) => format!("{} ({})", format::local_time(at), format::minutes(m)),
                                _ => "–".into(),
                            };
                            let message = format!("{:?}", link.notification_status).to_lowercase();
                            let resend = move |_| {
                                notice.set(None);
                                let answer = ctx.fetch::<Resend>(resend::Variables { id: id.clone() });
                                spawn_local(async move {
                                    match answer.await {
                                        Ok(_) => {
                                            notice.set(Some(Ok("The message is being sent again.".into())));
                                            page.refetch();
                                        }
                                        Err(err) => notice.set(Some(Err(err))),
                                    }
                                });
                            };
                            view! {
                                <tr data-link=link.id.clone()>
                                    <td>{link.teacher.name.clone()}</td>
                                    <td>{link.student.name.clone()}</td>
                                    <td>{format::local_time(&link.issued_at)}</td>
                                    <td>{planned}</td>
                                    <td>{attendance_badge(attendance.as_deref())}</td>
                                    <td class="message" title=link.notification_last_error.clone().unwrap_or_default()>{message}</td>
                                    <td><button class="quiet resend" on:click=resend>"Send again"</button></td>
                                </tr>
                            }
                        }
                    </For>
                </tbody>
            </table>
            <Show when=move || rows().is_empty() && !loading.get()>
                <p class="muted" id="none-unopened">"Every link under these filters has been opened."</p>
            </Show>
            <nav class="pager">
                <button id="unopened-previous" disabled=move || before.with(Vec::is_empty)
                    on:click=move |_| {
                        let mut pages = before.get_untracked();
                        if let Some(previous) = pages.pop() {
                            before.set(pages);
                            after.set(previous);
                        }
                    }>"← Previous"</button>
                <button id="unopened-next" disabled=move || next().is_none()
                    on:click=move |_| {
                        if let Some(cursor) = untrack(next) {
                            before.update(|pages| pages.push(after.get_untracked()));
                            after.set(Some(cursor));
                        }
                    }>"Next →"</button>
            </nav>
        </Transition>
        <p class="muted">"Links never opened, by the day they were issued. A planned lesson is a no-show once its planned end and the grace have passed."</p>
    }
}
