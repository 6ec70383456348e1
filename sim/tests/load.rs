//! The load scenario end to end: a real `haggle node` process takes listings live from
//! publishers, a second one catches up with them from it, and the report carries the memory
//! figures docs/PERFORMANCE.md compares. It runs the `haggle` binary built beside
//! `haggle-sim` (the workspace's tests build both).

use std::process::Command;

#[test]
fn a_node_takes_a_live_load_and_a_new_one_catches_up_with_it() {
    let sim = std::path::Path::new(env!("CARGO_BIN_EXE_haggle-sim"));
    let haggle = sim.with_file_name("haggle");
    assert!(
        haggle.exists(),
        "no haggle binary at {}: build the workspace's binaries first",
        haggle.display()
    );
    let output = Command::new(sim)
        .args(["--scenario", "load", "--preload", "200", "--listings", "30", "--rate", "100"])
        .args(["--quiet-secs", "1", "--settle-secs", "60", "--json", "--haggle"])
        .arg(&haggle)
        .output()
        .expect("haggle-sim runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    assert_eq!(report["scenario"], "load");
    assert_eq!(report["publishers"], 1, "{report}");
    // B held the 200 it started with and the 30 published, and so did C, and B after a restart.
    assert!(report["b_all_held_after_last_publish_s"].is_number(), "{report}");
    assert!(report["c_catch_up_s"].is_number(), "{report}");
    assert_eq!(report["b_restarted_listings"], 230, "{report}");
    for phase in ["b_at_start", "b_after_load", "b_serving_catch_up", "c_caught_up", "b_restarted"] {
        let memory = &report[phase];
        let rss = memory["rss_mib"].as_u64().expect("a resident size");
        assert!(rss > 0 && memory["peak_rss_mib"].as_u64() >= Some(rss), "{phase}: {report}");
        assert!(memory["anon_mib"].as_u64().is_some_and(|a| a <= rss), "{phase}: {report}");
        assert!(memory["threads"].as_u64().is_some_and(|t| t > 1), "{phase}: {report}");
    }
}
