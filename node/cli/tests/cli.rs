//! `tutti contract check` / `run` as a user runs them: exit codes and output.

use std::process::{Command, Output};

fn tutti(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tutti"))
        .args(args)
        .output()
        .expect("tutti runs")
}

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_string_lossy().into_owned()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn check_accepts_valid_and_names_the_broken_rule() {
    let dir = tempfile::tempdir().unwrap();
    let ok = write(&dir, "token.wasm", tutti_examples::TOKEN);
    let o = tutti(&["contract", "check", &ok]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("transfer_and_call"));

    let start =
        wat::parse_str(r#"(module (memory (export "memory") 1) (func $s) (start $s) (func (export "run")))"#).unwrap();
    let bad = write(&dir, "start.wasm", &start);
    let o = tutti(&["contract", "check", &bad]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("start functions are not allowed"), "{}", text(&o));

    let garbage = write(&dir, "garbage.wasm", b"not wasm at all");
    let o = tutti(&["contract", "check", &garbage]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("invalid wasm"), "{}", text(&o));

    let truncated = write(
        &dir,
        "truncated.wasm",
        &tutti_examples::TOKEN[..tutti_examples::TOKEN.len() / 2],
    );
    assert_eq!(tutti(&["contract", "check", &truncated]).status.code(), Some(2));

    let o = tutti(&["contract", "check", "/nonexistent/x.wasm"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("cannot read"));
}

#[test]
fn run_prints_the_outcome_and_sets_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let counter = write(&dir, "counter.wasm", tutti_examples::COUNTER);
    // increment(7): the SCALE encoding of 7u64.
    let o = tutti(&[
        "contract",
        "run",
        &counter,
        "increment",
        "--args-hex",
        "0x0700000000000000",
    ]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("status:   success"), "{t}");
    assert!(t.contains("return:   0x0700000000000000"), "{t}");
    assert!(t.contains("event:    Incremented"), "{t}");

    let o = tutti(&[
        "contract",
        "run",
        &counter,
        "increment",
        "--args-hex",
        "07",
        "--value",
        "5",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("not payable"), "{}", text(&o));

    let o = tutti(&[
        "contract",
        "run",
        &counter,
        "increment",
        "--args-hex",
        "0700000000000000",
        "--gas",
        "42000",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("out of gas"), "{}", text(&o));

    let o = tutti(&["contract", "run", &counter, "get", "--json"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("{\"status\":\"success\""));

    assert_eq!(
        tutti(&["contract", "run", &counter, "get", "--args-hex", "zz"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        tutti(&["contract", "run", &counter]).status.code(),
        Some(2),
        "missing METHOD is a usage error"
    );
    assert_eq!(
        tutti(&["contract", "run", &counter, "get", "--gas", "lots"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn help_is_there() {
    for args in [
        &["--help"][..],
        &["contract", "--help"],
        &["contract", "run", "--help"],
        &["contract", "check", "--help"],
    ] {
        let o = tutti(args);
        assert_eq!(o.status.code(), Some(0));
        assert!(text(&o).contains("Usage"), "{}", text(&o));
    }
}

/// `tutti contract new` writes a crate that stands on its own, and refuses bad names, an
/// existing directory and a missing SDK; `contract build` refuses a directory without a crate.
/// (Building the scaffold is CI's README step: it needs the wasm toolchain and minutes.)
#[test]
fn contract_new_scaffolds_a_standalone_crate_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tutti"))
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    let o = run(&["contract", "new", "my-counter"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let root = dir.path().join("my-counter");
    let cargo = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(
        cargo.contains("name = \"my-counter\"") && cargo.contains("[workspace]") && cargo.contains("opt-level = \"z\"")
    );
    let sdk = cargo
        .lines()
        .find(|l| l.starts_with("tutti-sdk"))
        .and_then(|l| l.split('"').nth(1))
        .unwrap();
    assert!(
        std::path::Path::new(sdk).join("Cargo.toml").exists(),
        "the SDK path exists: {sdk}"
    );
    assert!(
        std::fs::read_to_string(root.join("src/lib.rs"))
            .unwrap()
            .contains("#[contract(events(")
    );
    assert!(
        std::fs::read_to_string(root.join(".cargo/config.toml"))
            .unwrap()
            .contains("stack-size=32768")
    );
    // The LocalNet test of the built module, behind its feature, on the runtime beside the SDK.
    let localnet = std::fs::read_to_string(root.join("tests/localnet.rs")).unwrap();
    assert!(localnet.starts_with("//!") && localnet.contains("#![cfg(feature = \"localnet\")]"));
    assert!(localnet.contains("tutti/my_counter.wasm"), "{localnet}");
    let runtime = cargo
        .lines()
        .find(|l| l.starts_with("tutti-runtime"))
        .and_then(|l| l.split('"').nth(1))
        .unwrap();
    assert!(std::path::Path::new(runtime).join("Cargo.toml").exists(), "{runtime}");

    for (args, needle) in [
        (vec!["contract", "new", "my-counter"], "already exists"),
        (vec!["contract", "new", "Bad Name"], "not a crate name"),
        (vec!["contract", "new", "x", "--sdk", "/nonexistent"], "not the SDK"),
        (vec!["contract", "build", "--path", "/nonexistent"], "/nonexistent"),
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(needle), "{args:?}: {}", text(&o));
    }
    let o = run(&["contract", "build", "--path", "."]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("Cargo.toml"), "{}", text(&o));
}
