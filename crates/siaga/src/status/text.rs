//! The words of automatic incidents, in Indonesian and English: what is affected and what
//! siaga is doing about it (routing to a backup, holding orders for N minutes, refunding).
//! Honest and specific; never names a supplier (SPEC 3.6).

use siaga_domain::status::ComponentStatus;

/// What siaga does with orders for an affected component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Orders go to a backup supplier.
    Backup,
    /// Orders wait up to this many minutes for a supplier to return, then are refunded.
    Hold { minutes: u64 },
    /// Orders that cannot be served are refunded at once.
    Refund,
}

/// The action for a status, given how long orders may wait (`default_max_wait_s`).
pub fn action_for(status: ComponentStatus, max_wait_s: u64) -> Action {
    match status {
        ComponentStatus::DegradedPerformance => Action::Backup,
        _ if max_wait_s >= 60 => Action::Hold {
            minutes: max_wait_s / 60,
        },
        _ => Action::Refund,
    }
}

/// Impact in Statuspage's vocabulary.
pub fn impact(status: ComponentStatus) -> &'static str {
    match status {
        ComponentStatus::Operational | ComponentStatus::UnderMaintenance => "none",
        ComponentStatus::DegradedPerformance => "minor",
        ComponentStatus::PartialOutage => "major",
        ComponentStatus::MajorOutage => "critical",
    }
}

/// (title_id, title_en)
pub fn title(component: &str, status: ComponentStatus) -> (String, String) {
    match status {
        ComponentStatus::DegradedPerformance => (
            format!("Kinerja menurun: {component}"),
            format!("Degraded performance: {component}"),
        ),
        ComponentStatus::PartialOutage => (
            format!("Gangguan sebagian: {component}"),
            format!("Partial outage: {component}"),
        ),
        _ => (
            format!("Gangguan: {component}"),
            format!("Outage: {component}"),
        ),
    }
}

/// (title_id, title_en) for components in different states: each named with what is
/// true of it, worst first ("Outage: XL Pulsa; Degraded performance: Telkomsel Pulsa"),
/// so a group that still sells through a backup is not called out of order.
pub fn title_many(parts: &[(String, ComponentStatus)]) -> (String, String) {
    let mut order: Vec<ComponentStatus> = parts.iter().map(|(_, s)| *s).collect();
    order.sort_by_key(|s| std::cmp::Reverse(s.severity()));
    order.dedup();
    let (mut id, mut en) = (Vec::new(), Vec::new());
    for status in order {
        let names: Vec<&str> = parts
            .iter()
            .filter(|(_, s)| *s == status)
            .map(|(n, _)| n.as_str())
            .collect();
        let (i, e) = title(&names.join(", "), status);
        id.push(i);
        en.push(e);
    }
    (id.join("; "), en.join("; "))
}

/// (body_id, body_en) for an incident opening or changing.
pub fn body(component: &str, status: ComponentStatus, action: Action) -> (String, String) {
    body_many(&[(component.to_owned(), status, action)])
}

/// (what_id, what_en, doing_id, doing_en) for one component.
fn sentences(
    component: &str,
    status: ComponentStatus,
    action: Action,
) -> (String, String, String, String) {
    let (what_id, what_en) = match status {
        ComponentStatus::DegradedPerformance => (
            format!("Pemasok utama untuk {component} sedang bermasalah."),
            format!("The main supplier for {component} is having problems."),
        ),
        ComponentStatus::PartialOutage => (
            format!("Sebagian produk {component} saat ini tidak dapat diproses karena gangguan di pemasok."),
            format!("Some {component} products cannot be processed right now because of a supplier outage."),
        ),
        _ => (
            format!("Produk {component} saat ini tidak dapat diproses karena gangguan di pemasok."),
            format!("{component} products cannot be processed right now because of a supplier outage."),
        ),
    };
    let (doing_id, doing_en) = match action {
        Action::Backup => (
            "Pesanan dialihkan ke pemasok cadangan dan tetap diproses; sebagian mungkin sedikit lebih lambat.".to_string(),
            "Orders are being routed to a backup supplier and are still processed; some may take a little longer."
                .to_string(),
        ),
        Action::Hold { minutes } => (
            format!(
                "Pesanan ditahan dan akan diproses otomatis dalam {minutes} menit begitu pemasok pulih; jika tidak, saldo dikembalikan penuh."
            ),
            format!(
                "Orders are held and will be processed automatically within {minutes} minutes once the supplier recovers; otherwise the balance is refunded in full."
            ),
        ),
        Action::Refund => (
            "Pesanan yang tidak dapat diproses langsung dibatalkan dan saldo dikembalikan penuh.".to_string(),
            "Orders that cannot be processed are cancelled at once and the balance is refunded in full.".to_string(),
        ),
    };
    (what_id, what_en, doing_id, doing_en)
}

/// (body_id, body_en) for several components at once: one sentence pair per component,
/// then a single closing line.
pub fn body_many(parts: &[(String, ComponentStatus, Action)]) -> (String, String) {
    let (mut id, mut en) = (String::new(), String::new());
    for (name, status, action) in parts {
        let (what_id, what_en, doing_id, doing_en) = sentences(name, *status, *action);
        id.push_str(&format!("{what_id} {doing_id} "));
        en.push_str(&format!("{what_en} {doing_en} "));
    }
    (
        format!("{id}Kami memantau dan akan memberi kabar terbaru."),
        format!("{en}We are monitoring and will post updates."),
    )
}

/// (body_id, body_en) when the component works again, before the incident resolves.
pub fn recovering(component: &str) -> (String, String) {
    (
        format!("{component} kembali berjalan normal. Kami terus memantau sebelum menyatakan gangguan selesai."),
        format!("{component} is working normally again. We are monitoring before closing this incident."),
    )
}

/// (body_id, body_en) when the incident resolves. `since` is a display time (WIB).
pub fn resolved(component: &str, since: &str) -> (String, String) {
    (
        format!("Gangguan selesai. {component} berjalan normal sejak {since}. Pesanan yang tertahan sudah diproses atau dikembalikan."),
        format!("Resolved. {component} has been working normally since {since}. Held orders have been processed or refunded."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ComponentStatus as C;

    fn all_texts() -> String {
        let mut out = String::new();
        for (status, wait) in [
            (C::DegradedPerformance, 900),
            (C::PartialOutage, 900),
            (C::MajorOutage, 900),
            (C::MajorOutage, 0),
        ] {
            let a = action_for(status, wait);
            let (ti, te) = title("Telkomsel Pulsa", status);
            let (bi, be) = body("Telkomsel Pulsa", status, a);
            out.push_str(&format!(
                "## {} (max_wait_s {wait}, impact {})\nid: {ti}\n    {bi}\nen: {te}\n    {be}\n\n",
                status.as_str(),
                impact(status)
            ));
        }
        let two = [
            (
                "XL Pulsa".to_string(),
                C::MajorOutage,
                action_for(C::MajorOutage, 900),
            ),
            (
                "Telkomsel Pulsa".to_string(),
                C::DegradedPerformance,
                action_for(C::DegradedPerformance, 900),
            ),
        ];
        let (ti, te) = title("XL Pulsa, Telkomsel Pulsa", C::MajorOutage);
        let (bi, be) = body_many(&two);
        out.push_str(&format!(
            "## two components at once\nid: {ti}\n    {bi}\nen: {te}\n    {be}\n\n"
        ));
        let (ri, re) = recovering("Telkomsel Pulsa");
        let (di, de) = resolved("Telkomsel Pulsa", "22 Nov 2026 15:04 WIB");
        out.push_str(&format!(
            "## recovering\nid: {ri}\nen: {re}\n\n## resolved\nid: {di}\nen: {de}\n"
        ));
        out
    }

    #[test]
    fn incident_texts_in_both_languages() {
        insta::assert_snapshot!(all_texts());
    }

    #[test]
    fn actions() {
        assert_eq!(action_for(C::DegradedPerformance, 0), Action::Backup);
        assert_eq!(
            action_for(C::MajorOutage, 900),
            Action::Hold { minutes: 15 }
        );
        assert_eq!(action_for(C::MajorOutage, 30), Action::Refund);
    }
}
