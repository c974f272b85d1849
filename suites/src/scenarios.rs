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
