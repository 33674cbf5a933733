//! API keys: every credential with its role, teacher, creation and last use; revoke one.

use leptos::{prelude::*, task::spawn_local};

use crate::{
    api::{ApiKeys, RevokeApiKey, api_keys, revoke_api_key},
    context::ctx,
    format,
};

#[component]
pub fn KeysView() -> impl IntoView {
    let ctx = ctx();
    let load_ctx = ctx.clone();
    let answer = LocalResource::new(move || load_ctx.fetch::<ApiKeys>(api_keys::Variables {}));
    let message = RwSignal::new(None::<(bool, String)>);
    let error = move || answer.map(|a| a.as_ref().err().cloned()).flatten();
    let rows = move || {
        answer
            .map(|a| a.as_ref().map(|d| d.api_keys.clone()).unwrap_or_default())
            .unwrap_or_default()
    };
    let names_ctx = ctx.clone();
    let teacher_name = move |id: &Option<String>| {
        id.as_ref().map_or_else(
            || "–".to_owned(),
            |id| {
                names_ctx
                    .teachers()
                    .into_iter()
                    .find(|t| &t.id == id)
                    .map_or_else(|| format!("#{id}"), |t| t.name)
            },
        )
    };
    let revoke = move |id: String| {
        let ctx = ctx.clone();
        spawn_local(async move {
            let done = ctx
                .fetch::<RevokeApiKey>(revoke_api_key::Variables { id: id.clone() })
                .await;
            message.set(Some(match done {
                Ok(_) => (
                    true,
                    format!("Key {id} is revoked: it no longer works anywhere."),
                ),
                Err(text) => (false, text),
            }));
            answer.refetch();
        });
    };
    view! {
        <section class="keys">
            <h2>"API keys"</h2>
            <p class="muted">
                "A key's token is shown once, when it is made (Teachers & students → New API key); \
                 only its hash is kept. Revoking a key stops it at once, and closes its live \
                 connections."
            </p>
            {move || message.get().map(|(ok, text)| view! {
                <p class=if ok { "ok" } else { "error" } role="status">{text}</p>
            })}
            <Transition>
                <Show when=move || error().is_some()>
                    <p class="error" role="alert">{error}</p>
                </Show>
                <table id="api-keys">
                    <thead>
                        <tr>
                            <th>"Key"</th><th>"Role"</th><th>"Teacher"</th><th>"Created"</th>
                            <th>"Last used"</th><th>"State"</th><th></th>
                        </tr>
                    </thead>
                    <tbody>
                        <For each=rows key=|k| (k.id.clone(), k.revoked_at.clone(), k.last_used_at.clone()) let:key>
                            {
                                let revoke = revoke.clone();
                                let id = key.id.clone();
                                let live = key.revoked_at.is_none();
                                view! {
                                    <tr data-key=key.id.clone() class:revoked=!live>
                                        <td>{format!("#{}", key.id)}</td>
                                        <td>{format!("{:?}", key.role).to_lowercase()}</td>
                                        <td>{teacher_name(&key.teacher_id)}</td>
                                        <td>{format::local_time(&key.created_at)}</td>
                                        <td>{key.last_used_at.as_deref().map_or_else(|| "never".to_owned(), format::local_time)}</td>
                                        <td>{key.revoked_at.as_deref().map_or_else(|| "active".to_owned(), |at| format!("revoked {}", format::local_time(at)))}</td>
                                        <td>
                                            <Show when=move || live>
                                                {
                                                    let revoke = revoke.clone();
                                                    let id = id.clone();
                                                    view! {
                                                        <button class="quiet revoke" on:click=move |_| revoke(id.clone())>"Revoke"</button>
                                                    }
                                                }
                                            </Show>
                                        </td>
                                    </tr>
                                }
                            }
                        </For>
                    </tbody>
                </table>
            </Transition>
        </section>
    }
}
