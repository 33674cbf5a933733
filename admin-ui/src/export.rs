//! CSV exports: fetched with the admin's credential (a plain link would carry none) and handed
//! to the browser as a download.

use wasm_bindgen::JsCast;

use crate::session::Credential;

/// Fetches the export at `url` with the credential and hands it to the browser as the file
/// `name`.
pub async fn download(credential: &Credential, url: &str, name: &str) -> Result<(), String> {
    let response = gloo_net::http::Request::get(url)
        .header("Authorization", &credential.bearer())
        .send()
        .await
        .map_err(|err| format!("The export failed: {err}"))?;
    if response.status() != 200 {
        let text = response.text().await.unwrap_or_default();
        return Err(format!("The export failed ({}): {text}", response.status()));
    }
    let bytes = response
        .binary()
        .await
        .map_err(|err| format!("The export failed: {err}"))?;
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes.as_slice()));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("text/csv");
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options)
        .map_err(|_| "The browser refused the file.".to_owned())?;
    let href = web_sys::Url::create_object_url_with_blob(&blob)
        .map_err(|_| "The browser refused the file.".to_owned())?;
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let anchor: web_sys::HtmlAnchorElement = document
        .create_element("a")
        .map_err(|_| "no link")?
        .unchecked_into();
    anchor.set_href(&href);
    anchor.set_download(name);
    anchor.click();
    // Revoked once the browser has surely started the download.
    gloo_timers::callback::Timeout::new(60_000, move || {
        let _ = web_sys::Url::revoke_object_url(&href);
    })
    .forget();
    Ok(())
}
