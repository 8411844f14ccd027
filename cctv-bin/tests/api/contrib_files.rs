//! The service files in `contrib/`: the systemd unit passes `systemd-analyze verify` with
//! the binary this test built in the place of `/usr/local/bin/cctv` (skipped with a
//! message where systemd-analyze is missing), and starts the way it says.

use std::process::Command;

#[test]
fn the_systemd_unit_verifies_and_names_the_commands_that_exist() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../contrib/systemd/cctv.service"
    ))
    .unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/cctv serve"));
    assert!(
        unit.contains("cctv probe --timeout 1"),
        "the start is confirmed by the probe"
    );
    let Ok(version) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("skipped: systemd-analyze is not installed");
        return;
    };
    assert!(version.status.success());
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("cctv.service");
    std::fs::write(
        &copy,
        unit.replace("/usr/local/bin/cctv", env!("CARGO_BIN_EXE_cctv")),
    )
    .unwrap();
    let verified = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        verified.status.success() && verified.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&verified.stderr)
    );
}
