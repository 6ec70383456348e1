//! The floor scenario end to end: bare gossipsub child processes of the real `haggle-sim`
//! binary deliver every message, and the report carries the figures it is compared by.

use std::process::Command;

#[test]
fn the_floor_delivers_every_message_and_reports_its_cost() {
    let output = Command::new(env!("CARGO_BIN_EXE_haggle-sim"))
        .args(["--scenario", "floor", "--nodes", "4", "--listings", "10", "--rate", "50"])
        .args(["--warmup-secs", "0", "--idle-secs", "1", "--settle-secs", "30", "--json"])
        .output()
        .expect("haggle-sim runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    assert_eq!(report["scenario"], "floor");
    assert_eq!(report["published_seen"], 10, "every publish was sent: {report}");
    assert_eq!(report["delivered_ratio"], 1.0, "every other node got every message: {report}");
    assert!(report["cpu_s_all_nodes"].is_number(), "{report}");
    assert_eq!(report["publish_failures"], 0, "{report}");
    assert!(report["message_bytes"].as_u64().is_some_and(|b| b > 200), "a real signed listing: {report}");
    assert!(report["mesh_peers_mean"].as_f64().is_some_and(|m| m >= 1.0), "{report}");
}
