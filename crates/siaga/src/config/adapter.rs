//! What a templated supplier's adapter is built from, and where its reports come: one
//! place for the switch (`App`), `siaga supplier try` and `siaga config check`.

use siaga_suppliers::TemplateConfig;

use super::suppliers::Supplier;

/// Where `s` sends its reports, under the public URL: `/hooks/suppliers/{id}` for a
/// supplier that signs them (digiflazz, or a template with `[callback] sign`), otherwise
/// `/hooks/suppliers/{id}/{secret}` (`masked`: the secret as `***`).
pub fn report_path(s: &Supplier, masked: bool) -> String {
    let signed = s
        .template
        .as_ref()
        .is_none_or(|t| t.template.signs_reports());
    if signed {
        return format!("/hooks/suppliers/{}", s.id);
    }
    let secret = match (masked, s.callback_secret.as_deref()) {
        (true, _) => "***",
        (false, Some(secret)) => secret,
        (false, None) => "-",
    };
    format!("/hooks/suppliers/{}/{secret}", s.id)
}

/// The settings of `s`'s `http-template` adapter (`None`: another dialect);
/// `{callback_url}` is its report URL under `public_url`.
pub fn template_config(s: &Supplier, public_url: &str) -> Option<TemplateConfig> {
    let t = s.template.as_ref()?;
    Some(TemplateConfig {
        id: s.id.clone(),
        base_url: s.base_url.clone(),
        username: s.username.clone(),
        key: s.key.clone(),
        password: t.password.clone(),
        callback_secret: s.callback_secret.clone(),
        callback_url: format!(
            "{}{}",
            public_url.trim_end_matches('/'),
            report_path(s, false)
        ),
        timeout: s.timeout,
    })
}
