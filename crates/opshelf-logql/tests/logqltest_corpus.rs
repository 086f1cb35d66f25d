//! The Loki logqltest-dev corpus against the engine (≥ 95% must pass).

use std::path::PathBuf;

/// `../shared/<rel>`; fails loudly when missing (same contract as `opshelf_core::testing::shared`).
fn shared(rel: &str) -> PathBuf {
    let root = std::env::var_os("OPSHELF_SHARED").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
        PathBuf::from,
    );
    let p = root.join(rel);
    assert!(
        p.exists(),
        "test data missing: {} (set OPSHELF_SHARED)",
        p.display()
    );
    p
}

#[test]
fn logqltest_dev_corpus() {
    let s = opshelf_logql::logqltest::run_dir(&shared("obs/loki/logqltest-dev")).expect("run");
    for f in &s.failures {
        eprintln!(
            "FAIL {}:{} {}\n     {}",
            f.file.display(),
            f.line,
            f.eval,
            f.reason
        );
    }
    for f in &s.files {
        eprintln!(
            "{}: {} passed, {} failed {:?}",
            f.file.display(),
            f.passed,
            f.failed,
            f.fatal
        );
    }
    eprintln!("{} passed, {} failed", s.passed, s.failed);
    let total = s.passed + s.failed;
    assert!(total >= 800, "expected the whole corpus, ran {total}");
    // The acceptance bar is 95%; the engine passes all of it, so any miss is a regression.
    assert_eq!(s.failed, 0, "{} of {total} passed", s.passed);
}

#[test]
fn logqltest_dev_corpus_same_without_pushdown() {
    let s = opshelf_logql::logqltest::run_dir_differential(&shared("obs/loki/logqltest-dev"))
        .expect("run");
    for f in &s.failures {
        eprintln!(
            "DIFF {}:{} {}\n     {}",
            f.file.display(),
            f.line,
            f.eval,
            f.reason
        );
    }
    let total = s.passed + s.failed;
    assert!(total >= 800, "expected the whole corpus, ran {total}");
    assert_eq!(s.failed, 0, "{} of {total} identical", s.passed);
}
