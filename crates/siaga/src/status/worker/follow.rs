//! The status worker's decisions, as pure functions (values in, decision out): which status
//! changes to record, what to post on a followed automatic incident, and when to open a new
//! one. The worker (`status::worker`) reads the world, calls these and does the writes.

use std::collections::HashMap;

use siaga_domain::status::ComponentStatus;
use siaga_store::{ComponentChange, NewIncident};

use super::super::text;
use super::API;

/// The debounce and wording settings the decisions need.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rules {
    /// A component bad this long gets an incident.
    pub incident_after_ms: i64,
    /// A followed incident whose components stayed good this long is resolved.
    pub resolve_after_ms: i64,
    /// How long orders may wait (`default_max_wait_s`): what an incident says happens.
    pub max_wait_s: u64,
}

/// An automatic incident the worker follows: one per outage event, covering every
/// component that went bad together (one supplier down touches several groups).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Followed {
    pub id: i64,
    /// Component → the status last described in the incident (None: unknown after restart).
    pub posted: Vec<(String, Option<ComponentStatus>)>,
    pub recovering_since: Option<i64>,
}

/// What to do about one followed incident this step.
#[derive(Debug, PartialEq)]
pub(super) struct FollowUp {
    /// An update to post: (incident status, body in Indonesian, body in English).
    pub post: Option<(&'static str, String, String)>,
    /// The incident's `recovering_since` once the update is posted.
    pub recovering_since: Option<i64>,
    /// Resolved: stop following it.
    pub done: bool,
}

pub(super) fn is_bad(s: ComponentStatus) -> bool {
    !matches!(
        s,
        ComponentStatus::Operational | ComponentStatus::UnderMaintenance
    )
}

pub(super) fn status_of(statuses: &[(String, ComponentStatus)], name: &str) -> ComponentStatus {
    statuses
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, s)| *s)
        .unwrap_or_default()
}

/// The bad ones among `names`, with what orders do meanwhile.
fn bad_parts(
    statuses: &[(String, ComponentStatus)],
    names: &[String],
    max_wait_s: u64,
) -> Vec<(String, ComponentStatus, text::Action)> {
    names
        .iter()
        .map(|n| {
            let s = status_of(statuses, n);
            (n.clone(), s, text::action_for(s, max_wait_s))
        })
        .filter(|(_, s, _)| is_bad(*s))
        .collect()
}

/// The status the page may give each component this step, from the derived ones
/// (name, status, known). A status that is known is published. One that rests on live
/// evidence not yet seen since the start keeps the status last recorded in `current`
/// until `settle_until`: a restart must not show a recovery (or an outage) that only the
/// blank memory of a new process suggests. A component never recorded takes what is
/// derived, as does every component once `settle_until` has passed.
pub(super) fn publishable(
    derived: &[(String, ComponentStatus, bool)],
    current: &HashMap<String, (ComponentStatus, i64)>,
    now: i64,
    settle_until: i64,
) -> Vec<(String, ComponentStatus)> {
    derived
        .iter()
        .map(|(name, status, known)| {
            let kept = (!known && now < settle_until)
                .then(|| current.get(name).map(|(s, _)| *s))
                .flatten();
            (name.clone(), kept.unwrap_or(*status))
        })
        .collect()
}

/// The statuses as the incident rules see them: a component that is worse than
/// operational only because of announced maintenance (`planned`) is under maintenance.
pub(super) fn planned_as_maintenance(
    statuses: &[(String, ComponentStatus)],
    planned: &[&str],
) -> Vec<(String, ComponentStatus)> {
    statuses
        .iter()
        .map(|(n, s)| {
            let s = if planned.contains(&n.as_str()) {
                ComponentStatus::UnderMaintenance
            } else {
                *s
            };
            (n.clone(), s)
        })
        .collect()
}

/// Notes this step's statuses in `current` (status, since) and `bad_since`; returns the
/// changes to record (a component whose status differs from the one last noted).
pub(super) fn note_statuses(
    current: &mut HashMap<String, (ComponentStatus, i64)>,
    bad_since: &mut HashMap<String, i64>,
    statuses: &[(String, ComponentStatus)],
    now: i64,
) -> Vec<ComponentChange> {
    let mut changes = Vec::new();
    for (name, status) in statuses {
        if current.get(name).map(|(s, _)| s) != Some(status) {
            changes.push(ComponentChange {
                component: name.clone(),
                status: status.as_str().into(),
                at: now,
            });
            current.insert(name.clone(), (*status, now));
        }
        if is_bad(*status) {
            bad_since.entry(name.clone()).or_insert(now);
        } else {
            bad_since.remove(name);
        }
    }
    changes
}

/// One followed incident: still bad and changed (or bad again while recovering) → an
/// "identified" update naming what recovered; all good → "monitoring", then "resolved"
/// once good for `resolve_after_ms`.
pub(super) fn follow_up(
    f: &Followed,
    statuses: &[(String, ComponentStatus)],
    now: i64,
    rules: Rules,
) -> FollowUp {
    let names: Vec<String> = f.posted.iter().map(|(n, _)| n.clone()).collect();
    let bad = bad_parts(statuses, &names, rules.max_wait_s);
    let changed = f
        .posted
        .iter()
        .any(|(n, p)| *p != Some(status_of(statuses, n)));
    let quiet = FollowUp {
        post: None,
        recovering_since: f.recovering_since,
        done: false,
    };
    if !bad.is_empty() {
        if !changed && f.recovering_since.is_none() {
            return quiet;
        }
        let (body_id, body_en) = text::body_many(&bad);
        let recovered: Vec<String> = names
            .iter()
            .filter(|n| !is_bad(status_of(statuses, n)))
            .cloned()
            .collect();
        let (body_id, body_en) = if recovered.is_empty() {
            (body_id, body_en)
        } else {
            let (ri, re) = text::recovering(&recovered.join(", "));
            (format!("{ri} {body_id}"), format!("{re} {body_en}"))
        };
        return FollowUp {
            post: Some(("identified", body_id, body_en)),
            recovering_since: None,
            done: false,
        };
    }
    match f.recovering_since {
        None => {
            let (body_id, body_en) = text::recovering(&names.join(", "));
            FollowUp {
                post: Some(("monitoring", body_id, body_en)),
                recovering_since: Some(now),
                done: false,
            }
        }
        Some(since) if now - since >= rules.resolve_after_ms => {
            let (body_id, body_en) = text::resolved(&names.join(", "), &crate::clock::wib(since));
            FollowUp {
                post: Some(("resolved", body_id, body_en)),
                recovering_since: Some(since),
                done: true,
            }
        }
        Some(_) => quiet,
    }
}

/// The incident to open now, if any: every component (not "API") bad for at least
/// `incident_after_ms` that no incident follows, together in one.
pub(super) fn to_open(
    statuses: &[(String, ComponentStatus)],
    followed: &[Followed],
    bad_since: &HashMap<String, i64>,
    now: i64,
    rules: Rules,
) -> Option<NewIncident> {
    let is_followed = |n: &String| {
        followed
            .iter()
            .any(|f| f.posted.iter().any(|(p, _)| p == n))
    };
    let opening: Vec<String> = statuses
        .iter()
        .filter(|(n, s)| n != API && is_bad(*s) && !is_followed(n))
        .filter(|(n, _)| {
            bad_since
                .get(n)
                .is_some_and(|since| now - since >= rules.incident_after_ms)
        })
        .map(|(n, _)| n.clone())
        .collect();
    if opening.is_empty() {
        return None;
    }
    let bad = bad_parts(statuses, &opening, rules.max_wait_s);
    let worst = bad
        .iter()
        .map(|(_, s, _)| *s)
        .max_by_key(|s| s.severity())
        .unwrap_or_default();
    let parts: Vec<(String, ComponentStatus)> =
        bad.iter().map(|(n, s, _)| (n.clone(), *s)).collect();
    let (title_id, title_en) = text::title_many(&parts);
    let (body_id, body_en) = text::body_many(&bad);
    Some(NewIncident {
        title_id,
        title_en,
        status: "investigating".into(),
        impact: text::impact(worst).into(),
        auto_component: opening.first().cloned(),
        components: opening,
        security: false,
        body_id,
        body_en,
        at: now,
    })
}

/// The incident just opened for `inc`, as the worker follows it.
pub(super) fn followed_from(
    id: i64,
    inc: &NewIncident,
    statuses: &[(String, ComponentStatus)],
) -> Followed {
    Followed {
        id,
        posted: inc
            .components
            .iter()
            .map(|n| (n.clone(), Some(status_of(statuses, n))))
            .collect(),
        recovering_since: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ComponentStatus::{MajorOutage, Operational, PartialOutage, UnderMaintenance};

    /// 1 Dec 2026 10:00 WIB.
    const T0: i64 = 1_796_094_000_000;
    const RULES: Rules = Rules {
        incident_after_ms: 60_000,
        resolve_after_ms: 300_000,
        max_wait_s: 900,
    };

    fn st(list: &[(&str, ComponentStatus)]) -> Vec<(String, ComponentStatus)> {
        list.iter().map(|(n, s)| (n.to_string(), *s)).collect()
    }

    fn followed(posted: &[(&str, ComponentStatus)], recovering_since: Option<i64>) -> Followed {
        Followed {
            id: 7,
            posted: posted
                .iter()
                .map(|(n, s)| (n.to_string(), Some(*s)))
                .collect(),
            recovering_since,
        }
    }

    #[test]
    fn after_a_start_only_known_statuses_are_published() {
        let current: HashMap<String, (ComponentStatus, i64)> = [
            ("Pulsa".to_string(), (MajorOutage, T0 - 600_000)),
            ("Data".to_string(), (UnderMaintenance, T0 - 60_000)),
        ]
        .into();
        let derived = vec![
            // Blank memory: the supplier has not been seen since the start.
            ("Pulsa".to_string(), Operational, false),
            // Known from the store (an announced window) and from live evidence.
            ("Data".to_string(), UnderMaintenance, true),
            ("Game".to_string(), PartialOutage, true),
            // Never recorded: what is derived is all there is.
            ("Baru".to_string(), Operational, false),
        ];
        let settle = T0 + 105_000;
        assert_eq!(
            publishable(&derived, &current, T0, settle),
            st(&[
                ("Pulsa", MajorOutage),
                ("Data", UnderMaintenance),
                ("Game", PartialOutage),
                ("Baru", Operational),
            ])
        );
        // Once known, or once the settling time is over, the derived status stands.
        let mut known = derived.clone();
        known[0].2 = true;
        assert_eq!(publishable(&known, &current, T0, settle)[0].1, Operational);
        assert_eq!(
            publishable(&derived, &current, settle, settle)[0].1,
            Operational
        );
        // Kept statuses are no change: nothing is recorded, so nothing is announced.
        let (mut cur, mut bad) = (current.clone(), HashMap::new());
        let changes = note_statuses(
            &mut cur,
            &mut bad,
            &publishable(&derived, &current, T0, settle)[..2],
            T0,
        );
        assert!(changes.is_empty(), "{changes:?}");
    }

    #[test]
    fn status_changes_are_recorded_once_and_bad_since_follows_badness() {
        let (mut current, mut bad_since) = (HashMap::new(), HashMap::new());
        let first = st(&[("Pulsa", Operational), ("API", Operational)]);
        assert_eq!(
            note_statuses(&mut current, &mut bad_since, &first, T0).len(),
            2
        );
        assert!(note_statuses(&mut current, &mut bad_since, &first, T0 + 1000).is_empty());
        let down = st(&[("Pulsa", MajorOutage), ("API", Operational)]);
        let ch = note_statuses(&mut current, &mut bad_since, &down, T0 + 2000);
        assert_eq!(ch.len(), 1);
        assert_eq!(
            (ch[0].component.as_str(), ch[0].status.as_str(), ch[0].at),
            ("Pulsa", MajorOutage.as_str(), T0 + 2000)
        );
        assert_eq!(bad_since.get("Pulsa"), Some(&(T0 + 2000)));
        // Still bad: the start of badness stays; another bad status is a change.
        let partial = st(&[("Pulsa", PartialOutage), ("API", Operational)]);
        assert_eq!(
            note_statuses(&mut current, &mut bad_since, &partial, T0 + 3000).len(),
            1
        );
        assert_eq!(bad_since.get("Pulsa"), Some(&(T0 + 2000)));
        assert_eq!(current.get("Pulsa"), Some(&(PartialOutage, T0 + 3000)));
        // Maintenance is not bad.
        let maint = st(&[("Pulsa", UnderMaintenance), ("API", Operational)]);
        note_statuses(&mut current, &mut bad_since, &maint, T0 + 4000);
        assert!(bad_since.is_empty());
    }

    #[test]
    fn an_incident_opens_after_the_debounce_for_all_components_bad_together() {
        let now = st(&[
            ("Pulsa", MajorOutage),
            ("Data", PartialOutage),
            ("PLN", Operational),
            ("API", MajorOutage),
        ]);
        let mut bad_since = HashMap::new();
        bad_since.insert("Pulsa".to_string(), T0);
        bad_since.insert("Data".to_string(), T0 + 10_000);
        bad_since.insert("API".to_string(), T0);
        // Not yet: under the debounce.
        assert!(to_open(&now, &[], &bad_since, T0 + 59_999, RULES).is_none());
        // Pulsa passes first; Data not yet; API never gets an automatic incident.
        let inc = to_open(&now, &[], &bad_since, T0 + 60_000, RULES).unwrap();
        assert_eq!(inc.components, vec!["Pulsa"]);
        assert_eq!(inc.auto_component.as_deref(), Some("Pulsa"));
        assert_eq!(
            (inc.status.as_str(), inc.at),
            ("investigating", T0 + 60_000)
        );
        assert_eq!(inc.impact, text::impact(MajorOutage));
        // Later both together, in one incident, each named with what is true of it.
        let inc = to_open(&now, &[], &bad_since, T0 + 70_000, RULES).unwrap();
        assert_eq!(inc.components, vec!["Pulsa", "Data"]);
        assert_eq!(inc.title_en, "Outage: Pulsa; Partial outage: Data");
        assert_eq!(inc.title_id, "Gangguan: Pulsa; Gangguan sebagian: Data");
        // A component an incident already follows is not opened again.
        let f = followed_from(3, &inc, &now);
        assert_eq!(f.posted[1], ("Data".to_string(), Some(PartialOutage)));
        assert!(to_open(&now, &[f], &bad_since, T0 + 80_000, RULES).is_none());
    }

    #[test]
    fn a_followed_incident_is_updated_only_when_something_changed() {
        let f = followed(&[("Pulsa", MajorOutage)], None);
        let same = st(&[("Pulsa", MajorOutage)]);
        let up = follow_up(&f, &same, T0, RULES);
        assert_eq!(up.post, None);
        assert!(!up.done);
        let worse = st(&[("Pulsa", PartialOutage)]);
        let up = follow_up(&f, &worse, T0, RULES);
        let (status, _, en) = up.post.unwrap();
        assert_eq!(status, "identified");
        assert_eq!(
            en,
            text::body_many(&[(
                "Pulsa".into(),
                PartialOutage,
                text::action_for(PartialOutage, 900)
            )])
            .1
        );
    }

    #[test]
    fn a_partial_recovery_names_what_recovered() {
        let f = followed(&[("Pulsa", MajorOutage), ("Data", MajorOutage)], None);
        let now = st(&[("Pulsa", MajorOutage), ("Data", Operational)]);
        let (status, id, en) = follow_up(&f, &now, T0, RULES).post.unwrap();
        assert_eq!(status, "identified");
        assert!(en.starts_with(&text::recovering("Data").1), "{en}");
        assert!(id.starts_with(&text::recovering("Data").0), "{id}");
    }

    #[test]
    fn recovery_is_monitored_then_resolved_after_the_quiet_time() {
        let f = followed(&[("Pulsa", MajorOutage)], None);
        let good = st(&[("Pulsa", Operational)]);
        let up = follow_up(&f, &good, T0, RULES);
        assert_eq!(up.post.as_ref().map(|p| p.0), Some("monitoring"));
        assert_eq!((up.recovering_since, up.done), (Some(T0), false));
        // Quiet until the resolve time.
        let f = followed(&[("Pulsa", Operational)], Some(T0));
        let up = follow_up(&f, &good, T0 + 299_999, RULES);
        assert_eq!(
            (up.post, up.recovering_since, up.done),
            (None, Some(T0), false)
        );
        let up = follow_up(&f, &good, T0 + 300_000, RULES);
        let (status, _, en) = up.post.unwrap();
        assert_eq!(status, "resolved");
        assert_eq!(en, text::resolved("Pulsa", "1 Dec 2026 10:00 WIB").1);
        assert!(up.done);
    }

    #[test]
    fn bad_again_while_recovering_is_identified_again() {
        let f = followed(&[("Pulsa", MajorOutage)], Some(T0));
        // Same status as posted, but recovering: say it is bad again.
        let up = follow_up(&f, &st(&[("Pulsa", MajorOutage)]), T0 + 5000, RULES);
        assert_eq!(up.post.map(|p| p.0), Some("identified"));
        assert_eq!((up.recovering_since, up.done), (None, false));
    }
}
