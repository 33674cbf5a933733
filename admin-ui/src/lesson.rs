//! One session's page: its plan and attendance, its timeline, its Telegram message, and the
//! admin's correction of its end.

use leptos::{prelude::*, task::spawn_local};

use crate::{
    api::{CorrectSession, Lesson, correct_session, lesson},
    context::ctx,
    format,
    sessions::{attendance_badge, status_label},
};

type Session = lesson::LessonSession;

#[component]
pub fn LessonPage(id: String) -> impl IntoView {
    let ctx = ctx();
    let route = ctx.route;
    let load_ctx = ctx.clone();
    let load_id = id.clone();
    let answer = LocalResource::new(move || {
        load_ctx.epoch.track();
        load_ctx.fetch::<Lesson>(lesson::Variables {
            id: load_id.clone(),
        })
    });
    // A change of this session (an end, a correction, Zoom) reloads the page; a heartbeat does
    // not, so that a correction being typed stays.
    ctx.events.update_untracked(Vec::clear);
    let event_id = id.clone();
    Effect::new(move |_| {
        ctx.events.track();
        let batch = ctx
            .events
            .try_update_untracked(std::mem::take)
            .unwrap_or_default();
        if batch
            .iter()
            .any(|e| e.row.id == event_id && e.kind != "HEARTBEAT")
        {
            answer.refetch();
        }
    });
    let session = move || {
        answer
            .map(|a| a.as_ref().ok().map(|d| d.session.clone()))
            .flatten()
    };
    let error = move || answer.map(|a| a.as_ref().err().cloned()).flatten();
    // The correction's outcome outlives the reload it causes.
    let result = RwSignal::new(None::<Result<String, String>>);
    view! {
        <section class="lesson" id="lesson" data-session=id.clone()>
            <button class="quiet" id="lesson-back" on:click=move |_| route.update(|r| r.session = None)>
                "← Back"
            </button>
            <Transition>
                <Show when=move || error().is_some()>
                    <p class="error" role="alert">{error}</p>
                </Show>
                {move || session().map(|s| view! { <Details session=s.clone() /> <Correct session=s result on_saved=move || answer.refetch() /> })}
            </Transition>
            {move || result.get().map(|r| match r {
                Ok(text) => view! { <p class="ok" id="correct-result" role="status">{text}</p> }.into_any(),
                Err(text) => view! { <p class="error" id="correct-error" role="alert">{text}</p> }.into_any(),
            })}
        </section>
    }
}

#[component]
fn Details(session: Session) -> impl IntoView {
    let s = session;
    let when = |at: &Option<String>| {
        at.as_deref()
            .map(format::local_time)
            .unwrap_or_else(|| "–".into())
    };
    let plan = match (&s.planned_start, s.planned_minutes) {
        (Some(start), Some(minutes)) => format!(
            "{} for {}",
            format::local_time(start),
            format::minutes(minutes)
        ),
        _ => "No plan".into(),
    };
    let attendance = s.attendance.as_ref().map(|a| format!("{a:?}"));
    let duration = s
        .duration_seconds
        .map(format::clock)
        .unwrap_or_else(|| "–".into());
    let interruptions = match s.interruptions {
        0 => "None".to_owned(),
        n => format!("{n}, away {} in all", format::clock(s.interrupted_seconds)),
    };
    let message = format!(
        "{}, {} attempt(s){}{}",
        format!("{:?}", s.notification_status).to_lowercase(),
        s.notification_attempts,
        s.notification_sent_at
            .as_deref()
            .map(|at| format!(", delivered {}", format::local_time(at)))
            .unwrap_or_default(),
        s.notification_last_error
            .as_deref()
            .map(|e| format!(", last error: {e}"))
            .unwrap_or_default(),
    );
    let correction = s.correction.clone().map(|c| {
        let measured = match (c.measured_ended_at.as_deref(), c.measured_duration_seconds) {
            (Some(at), Some(seconds)) => format!(
                "Measured: ended {} after {}.",
                format::local_time(at),
                format::clock(seconds)
            ),
            _ => "Measured: the session was still running.".into(),
        };
        view! {
            <div class="correction" id="lesson-correction">
                <span class="badge corrected">"Corrected"</span>
                " by "{c.by.clone()}" on "{format::local_time(&c.at)}": "
                <q id="lesson-correction-reason">{c.reason.clone()}</q>
                <p class="muted">{measured}</p>
            </div>
        }
    });
    let timeline = s
        .timeline
        .iter()
        .map(|entry| {
            let mark = format!("{:?}", entry.mark);
            view! {
                <li data-mark=mark.clone()>
                    <time>{format::local_time(&entry.at)}</time>
                    " "<strong>{mark_label(&mark)}</strong>
                    {entry.detail.clone().map(|d| view! { <span class="muted">" — "{d}</span> })}
                </li>
            }
        })
        .collect_view();
    view! {
        <h2 id="lesson-title">{format!("{} → {}", s.teacher.name, s.student.name)}</h2>
        {correction}
        <dl class="facts">
            <dt>"Status"</dt><dd id="lesson-status">{status_label(&format!("{:?}", s.status))}</dd>
            <dt>"Started"</dt><dd>{when(&s.clicked_at)}</dd>
            <dt>"Ended"</dt><dd id="lesson-ended">{when(&s.ended_at)}</dd>
            <dt>"Duration"</dt><dd id="lesson-duration">{duration}</dd>
            <dt>"Plan"</dt><dd id="lesson-plan">{plan}</dd>
            <dt>"Attendance"</dt><dd>{attendance_badge(attendance.as_deref())}</dd>
            <dt>"Interruptions"</dt><dd id="lesson-interruptions">{interruptions}</dd>
            <dt>"Telegram message"</dt><dd id="lesson-message">{message}</dd>
        </dl>
        <h3>"Timeline"</h3>
        <ol class="timeline" id="timeline">{timeline}</ol>
    }
}

fn mark_label(mark: &str) -> &'static str {
    match mark {
        "ISSUED" => "Link issued",
        "MESSAGE_SENT" => "Telegram message delivered",
        "OPENED" => "Opened the link",
        "JOINED_ZOOM" => "Joined the Zoom meeting",
        "LEFT_ZOOM" => "Left the Zoom meeting",
        "MEETING_ENDED" => "The Zoom meeting ended",
        "LAST_ACTIVITY" => "Last sign of the student",
        "PAGE_HIDDEN" => "Tracking page in the background",
        "PAGE_VISIBLE" => "Tracking page in front again",
        "AWAY" => "Away: the visible page fell silent",
        "ENDED" => "Ended",
        "TIMED_OUT" => "Timed out",
        "CORRECTED" => "Corrected by an admin",
        _ => "Event",
    }
}

/// The admin sets the session's end, with a reason; the server keeps the measured values.
#[component]
fn Correct(
    session: Session,
    result: RwSignal<Option<Result<String, String>>>,
    on_saved: impl Fn() + Copy + 'static,
) -> impl IntoView {
    let ctx = ctx();
    if session.clicked_at.is_none() {
        return view! { <p class="muted">"Never opened: there is no session to correct."</p> }
            .into_any();
    }
    let ended = RwSignal::new(
        session
            .ended_at
            .as_deref()
            .map(format::local_input)
            .unwrap_or_default(),
    );
    let reason = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let id = session.id.clone();
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(ended_at) = format::from_local_input(&ended.get_untracked()) else {
            result.set(Some(Err("Enter the time the lesson ended.".into())));
            return;
        };
        busy.set(true);
        result.set(None);
        let answer = ctx.fetch::<CorrectSession>(correct_session::Variables {
            id: id.clone(),
            ended_at,
            reason: reason.get_untracked(),
        });
        spawn_local(async move {
            let answer = answer.await;
            busy.set(false);
            match answer {
                Ok(_) => {
                    reason.set(String::new());
                    result.set(Some(Ok(
                        "Saved: the session shows the corrected end.".into()
                    )));
                    on_saved();
                }
                Err(err) => result.set(Some(Err(err))),
            }
        });
    };
    view! {
        <form class="correct" id="correct" on:submit=save>
            <h3>"Correct the end"</h3>
            <label>"Ended at "
                <input id="correct-ended-at" type="datetime-local" step="1" required
                    prop:value=move || ended.get()
                    on:input=move |ev| ended.set(event_target_value(&ev)) />
            </label>
            <label>"Reason "
                <input id="correct-reason" type="text" maxlength="500" required
                    placeholder="Why the measured end is wrong"
                    prop:value=move || reason.get()
                    on:input=move |ev| reason.set(event_target_value(&ev)) />
            </label>
            <button id="correct-save" type="submit" disabled=move || busy.get()>"Save correction"</button>
        </form>
    }
    .into_any()
}
