//! install.sh in `--root` mode: lays down binary, unit and env file with the right modes,
//! upgrades in place keeping the operator's configuration, and uninstalls without touching data.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn install(root: &Path, extra: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("install.sh");
    let out = Command::new("sh")
        .arg(&script)
        .args(["--root", root.to_str().unwrap(), "--binary", common::BIN])
        .args(extra)
        .env_remove("DESTDIR")
        .output()
        .expect("sh runs install.sh");
    assert!(
        out.status.success(),
        "install.sh failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn root_mode_lays_down_binary_unit_and_env_file() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    install(root, &[]);

    let bin = root.join("usr/local/bin/aicarpool");
    assert_eq!(mode(&bin), 0o755);
    let version = Command::new(&bin).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).contains("aicarpool"));

    let data = root.join("var/lib/aicarpool");
    assert!(data.is_dir());
    assert_eq!(mode(&data), 0o700);

    let unit = std::fs::read_to_string(root.join("etc/systemd/system/aicarpool.service")).unwrap();
    for line in [
        "ExecStart=/usr/local/bin/aicarpool serve",
        "User=aicarpool",
        "EnvironmentFile=-/etc/aicarpool/aicarpool.env",
        "Environment=AICARPOOL_DATA_DIR=/var/lib/aicarpool",
        "ReadWritePaths=/var/lib/aicarpool",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "KillSignal=SIGTERM",
        "TimeoutStopSec=45",
        "LimitNICE=+0",
        "WantedBy=multi-user.target",
    ] {
        assert!(
            unit.lines().any(|l| l == line),
            "unit lacks {line:?}:\n{unit}"
        );
    }

    let env_path = root.join("etc/aicarpool/aicarpool.env");
    assert_eq!(mode(&env_path), 0o640);
    let env = std::fs::read_to_string(&env_path).unwrap();
    // Every variable the binary reads is documented in the env file.
    let help = Command::new(&bin)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let vars: Vec<&str> = help
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("AICARPOOL_"))
        .collect();
    assert!(vars.len() >= 10, "serve --help names its variables: {help}");
    for v in vars.iter().chain(&["AICARPOOL_LOG"]) {
        assert!(
            env.contains(&format!("#{v}=")),
            "env file does not document {v}"
        );
    }
}

#[test]
fn reinstall_upgrades_in_place_and_uninstall_keeps_data() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    install(root, &[]);
    let env_path = root.join("etc/aicarpool/aicarpool.env");
    let config = "AICARPOOL_LISTEN=0.0.0.0:4000\nAICARPOOL_SHUTDOWN_DRAIN_SECS=100\n";
    std::fs::write(&env_path, config).unwrap();
    let data_file = root.join("var/lib/aicarpool/aicarpool.db");
    std::fs::write(&data_file, b"data").unwrap();

    let out = install(root, &[]);
    assert!(out.contains("kept existing"), "{out}");
    assert_eq!(
        std::fs::read_to_string(&env_path).unwrap(),
        config,
        "an upgrade keeps the operator's configuration"
    );
    // systemd waits for the configured drain, plus time to flush, before killing.
    let unit = std::fs::read_to_string(root.join("etc/systemd/system/aicarpool.service")).unwrap();
    assert!(unit.lines().any(|l| l == "TimeoutStopSec=115"), "{unit}");

    install(root, &["--uninstall"]);
    assert!(!root.join("usr/local/bin/aicarpool").exists());
    assert!(!root.join("etc/systemd/system/aicarpool.service").exists());
    assert_eq!(
        std::fs::read(&data_file).unwrap(),
        b"data",
        "uninstall never removes data"
    );
    assert!(env_path.exists());
}
