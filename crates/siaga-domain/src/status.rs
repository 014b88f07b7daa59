//! Status-page rules (SPEC 8): how route health becomes a component status, and the daily
//! uptime formula (Statuspage's: downtime = major minutes + 0.3 × partial minutes;
//! degraded is not downtime; announced maintenance is excluded).

/// Statuspage's component vocabulary, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum ComponentStatus {
    #[default]
    Operational,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
    UnderMaintenance,
}

impl ComponentStatus {
    pub const ALL: [ComponentStatus; 5] = [
        ComponentStatus::Operational,
        ComponentStatus::DegradedPerformance,
        ComponentStatus::PartialOutage,
        ComponentStatus::MajorOutage,
        ComponentStatus::UnderMaintenance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ComponentStatus::Operational => "operational",
            ComponentStatus::DegradedPerformance => "degraded_performance",
            ComponentStatus::PartialOutage => "partial_outage",
            ComponentStatus::MajorOutage => "major_outage",
            ComponentStatus::UnderMaintenance => "under_maintenance",
        }
    }

    pub fn parse(s: &str) -> Option<ComponentStatus> {
        ComponentStatus::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// 0..=4 in the order above (the `siaga_component_status` gauge).
    pub fn level(self) -> i64 {
        self as i64
    }

    /// How bad it is for the overall banner: maintenance ranks between degraded and partial.
    pub fn severity(self) -> u8 {
        match self {
            ComponentStatus::Operational => 0,
            ComponentStatus::DegradedPerformance => 1,
            ComponentStatus::UnderMaintenance => 2,
            ComponentStatus::PartialOutage => 3,
            ComponentStatus::MajorOutage => 4,
        }
    }

    /// Statuspage's page indicator: none | minor | major | critical (maintenance: "maintenance").
    pub fn indicator(self) -> &'static str {
        match self {
            ComponentStatus::Operational => "none",
            ComponentStatus::DegradedPerformance => "minor",
            ComponentStatus::PartialOutage => "major",
            ComponentStatus::MajorOutage => "critical",
            ComponentStatus::UnderMaintenance => "maintenance",
        }
    }
}

/// How one product can be served right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serve {
    /// Its first route (by priority) takes orders.
    Primary,
    /// Only a backup route takes orders, or the primary is slow.
    Degraded,
    /// Every route is in announced maintenance.
    Maintenance,
    /// No route takes orders.
    Unservable,
}

/// A product group's status from its products (SPEC 8): all primary → operational; served
/// only via backups or slow → degraded; some unservable → partial; none servable → major;
/// all in announced maintenance → under maintenance.
pub fn derive(products: &[Serve]) -> ComponentStatus {
    if products.is_empty() {
        return ComponentStatus::Operational;
    }
    if products.iter().all(|p| *p == Serve::Maintenance) {
        return ComponentStatus::UnderMaintenance;
    }
    let servable = products
        .iter()
        .filter(|p| matches!(p, Serve::Primary | Serve::Degraded))
        .count();
    if servable == 0 {
        ComponentStatus::MajorOutage
    } else if servable < products.len() {
        ComponentStatus::PartialOutage
    } else if products.contains(&Serve::Degraded) {
        ComponentStatus::DegradedPerformance
    } else {
        ComponentStatus::Operational
    }
}

/// The page's top line, in Statuspage's words (its colours in the page's classes): the
/// worst that is true of the components that sell, and of the open incidents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Headline {
    #[default]
    AllOperational,
    Maintenance,
    PartiallyDegraded,
    Degraded,
    PartialOutage,
    MajorOutage,
}

impl Headline {
    /// Statuspage's page `indicator` for it (a widget colours its dot by it, next to the
    /// words): `none | minor | major | critical`, or `maintenance`.
    pub fn indicator(self) -> &'static str {
        match self {
            Headline::AllOperational => "none",
            Headline::Maintenance => "maintenance",
            Headline::PartiallyDegraded | Headline::Degraded => "minor",
            Headline::PartialOutage => "major",
            Headline::MajorOutage => "critical",
        }
    }

    /// (Indonesian, English).
    pub fn words(self) -> (&'static str, &'static str) {
        match self {
            Headline::AllOperational => ("Semua sistem normal", "All Systems Operational"),
            Headline::Maintenance => (
                "Pemeliharaan terjadwal sedang berlangsung",
                "Service Under Maintenance",
            ),
            Headline::PartiallyDegraded => {
                ("Sebagian layanan melambat", "Partially Degraded Service")
            }
            Headline::Degraded => ("Layanan melambat", "Degraded System Service"),
            Headline::PartialOutage => ("Gangguan pada sebagian sistem", "Partial System Outage"),
            Headline::MajorOutage => ("Gangguan pada seluruh sistem", "Major System Outage"),
        }
    }
}

/// The headline from the statuses of the components that sell (the product groups) and
/// the impacts of the open incidents (`none | minor | major | critical`). Order: an
/// outage over degradation over maintenance, so planned work never hides trouble. "Major"
/// only when every component is out; one of several is a partial outage. An open incident
/// counts as its impact says (minor: degraded in part; major or critical: an outage in
/// part) when the components show nothing worse.
pub fn headline(components: &[ComponentStatus], incident_impacts: &[&str]) -> Headline {
    use ComponentStatus::*;
    let count = |f: fn(&ComponentStatus) -> bool| components.iter().filter(|c| f(c)).count();
    let all = components.len();
    let out = count(|c| matches!(c, MajorOutage | PartialOutage));
    let degraded = count(|c| *c == DegradedPerformance);
    if all > 0 && count(|c| *c == MajorOutage) == all {
        return Headline::MajorOutage;
    }
    if out > 0
        || incident_impacts
            .iter()
            .any(|i| matches!(*i, "major" | "critical"))
    {
        return Headline::PartialOutage;
    }
    if all > 0 && degraded == all {
        return Headline::Degraded;
    }
    if degraded > 0 || incident_impacts.contains(&"minor") {
        return Headline::PartiallyDegraded;
    }
    if count(|c| *c == UnderMaintenance) > 0 {
        return Headline::Maintenance;
    }
    Headline::AllOperational
}

/// Daily uptime in percent from minutes spent in each status. `None` if the whole day was
/// maintenance or unobserved.
pub fn daily_uptime(
    observed_min: i64,
    major_min: i64,
    partial_min: i64,
    maintenance_min: i64,
) -> Option<f64> {
    let counted = observed_min - maintenance_min;
    if counted <= 0 {
        return None;
    }
    let down = major_min as f64 + 0.3 * partial_min as f64;
    Some((100.0 * (1.0 - down / counted as f64)).clamp(0.0, 100.0))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_headline_says_what_is_true_of_the_whole() {
        use ComponentStatus::*;
        let ok = Operational;
        // One of five down: a partial system outage, not a major one.
        assert_eq!(
            headline(&[MajorOutage, ok, ok, ok, ok], &[]),
            Headline::PartialOutage
        );
        assert_eq!(
            headline(&[PartialOutage, ok, ok, ok, ok], &[]),
            Headline::PartialOutage
        );
        // All down.
        assert_eq!(headline(&[MajorOutage; 5], &[]), Headline::MajorOutage);
        assert_eq!(
            headline(&[MajorOutage, MajorOutage, PartialOutage], &[]),
            Headline::PartialOutage
        );
        // Degraded only, in part or all.
        assert_eq!(
            headline(&[DegradedPerformance, ok, ok], &[]),
            Headline::PartiallyDegraded
        );
        assert_eq!(headline(&[DegradedPerformance; 3], &[]), Headline::Degraded);
        // Maintenance never hides trouble: not degraded components, not an open incident.
        assert_eq!(
            headline(&[UnderMaintenance, ok], &[]),
            Headline::Maintenance
        );
        assert_eq!(
            headline(&[UnderMaintenance, DegradedPerformance], &[]),
            Headline::PartiallyDegraded
        );
        assert_eq!(
            headline(&[UnderMaintenance, ok], &["major"]),
            Headline::PartialOutage
        );
        assert_eq!(
            headline(&[UnderMaintenance, ok], &["minor"]),
            Headline::PartiallyDegraded
        );
        assert_eq!(
            headline(&[UnderMaintenance, ok], &["none"]),
            Headline::Maintenance
        );
        assert_eq!(headline(&[ok, ok], &[]), Headline::AllOperational);
        assert_eq!(headline(&[], &[]), Headline::AllOperational);
        assert_eq!(Headline::PartialOutage.words().1, "Partial System Outage");
        // The colours (Statuspage's indicator, the page's banner) follow the same words.
        let colour = |c: &[ComponentStatus], i: &[&str]| headline(c, i).indicator();
        assert_eq!(colour(&[MajorOutage, ok, ok, ok, ok], &[]), "major");
        assert_eq!(colour(&[MajorOutage; 5], &[]), "critical");
        assert_eq!(colour(&[DegradedPerformance, ok], &[]), "minor");
        assert_eq!(colour(&[UnderMaintenance, ok], &["minor"]), "minor");
        assert_eq!(colour(&[UnderMaintenance, ok], &[]), "maintenance");
        assert_eq!(colour(&[ok, ok], &[]), "none");
    }

    use super::*;
    use ComponentStatus as C;
    use Serve as S;

    #[test]
    fn derive_follows_spec_8() {
        assert_eq!(derive(&[S::Primary, S::Primary]), C::Operational);
        assert_eq!(derive(&[S::Primary, S::Degraded]), C::DegradedPerformance);
        assert_eq!(derive(&[S::Primary, S::Unservable]), C::PartialOutage);
        assert_eq!(derive(&[S::Maintenance, S::Primary]), C::PartialOutage);
        assert_eq!(derive(&[S::Unservable, S::Unservable]), C::MajorOutage);
        assert_eq!(derive(&[S::Unservable, S::Maintenance]), C::MajorOutage);
        assert_eq!(
            derive(&[S::Maintenance, S::Maintenance]),
            C::UnderMaintenance
        );
    }

    #[test]
    fn uptime_formula() {
        assert_eq!(daily_uptime(1440, 0, 0, 0), Some(100.0));
        // 144 major minutes = 10 % down
        assert_eq!(daily_uptime(1440, 144, 0, 0), Some(90.0));
        // partial counts 0.3
        let u = daily_uptime(1440, 0, 100, 0).unwrap();
        assert!((u - (100.0 - 30.0 / 14.4)).abs() < 1e-9);
        // maintenance excluded
        assert_eq!(daily_uptime(1440, 0, 0, 1440), None);
        assert_eq!(
            daily_uptime(1440, 120, 0, 240),
            Some(100.0 * (1.0 - 120.0 / 1200.0))
        );
    }
}
