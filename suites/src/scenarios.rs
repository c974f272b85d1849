//! The scenarios, one module per area; [`all`] lists them in a stable order.

pub mod abtest;
pub mod bootstrap;
pub mod canary;
pub mod drift;

use crate::runner::Scenario;

/// Every scenario of the suite.
pub fn all() -> Vec<Scenario> {
    vec![
        bootstrap::ALL_READY,
        bootstrap::SURVIVES_UNAVAILABLE_AGGREGATED_API,
        drift::NONE_AFTER_BOOTSTRAP,
        canary::FACE_PROMOTES,
        canary::FACE_FAILS_AND_ROLLS_BACK,
        canary::IMAGE_BUMP,
        abtest::FACES_GUI_HEADER_ROUTE,
        abtest::FACES_GUI_HEADER_ROUTING,
        drift::AFTER_FAILED_CANARY,
        drift::MANUAL_EDIT,
    ]
}

#[cfg(test)]
mod tests {
    use crate::lanes::Lane;

    /// nextest keeps whole-cluster scenarios in their own group (one at a time, never holding a
    /// slot the canary lanes need): its filter must name exactly the `Lane::Exclusive` scenarios.
    #[test]
    fn nextest_whole_cluster_group_matches_the_exclusive_lane() {
        let config = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../.config/nextest.toml")).unwrap();
        let filters: Vec<&str> = config.lines().filter(|l| l.starts_with("filter") && l.contains("test(=bootstrap::all_ready)")).collect();
        assert_eq!(filters.len(), 2, "the whole-cluster filter of the default and ci profiles");
        for s in super::all() {
            let named = filters.iter().all(|f| f.contains(&format!("test(={})", s.name)));
            assert_eq!(named, s.lane == Lane::Exclusive, "{} ({:?}) vs the whole-cluster filter", s.name, s.lane);
        }
    }
}
