//! The report's verdict rules, its JSON form and its HTML page, from the healthy scenario with one
//! thing broken at a time.

use super::fixtures::{Scenario, healthy};
use super::*;

#[test]
fn the_healthy_scenario_passes_every_section() {
    let report = healthy().build();
    for (name, verdict) in report.section_verdicts() {
        assert_eq!(
            verdict,
            Verdict::Pass,
            "{name}: {:?}",
            serde_json::to_string(&report.sections).unwrap()
        );
    }
    assert_eq!(report.overall_verdict(), Verdict::Pass);
    let _: &Scenario = &healthy();
}
