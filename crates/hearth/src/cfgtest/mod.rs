//! `hearth test [--config FILE] [--format text|junit] [PATH...]`: runs configuration test files
//! (docs/config-testing.md) through the engine's own conversion and routing (`hearth_engine::process::offline`),
//! without the journal, the network or any delivery.
//!
//! Exit codes: 0 every test passed; 1 a test failed; 2 a test file or its configuration could not be used.

mod check;
mod file;
mod input;
mod junit;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use hearth_engine::process::offline::Offline;

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// The configuration to test, instead of each test file's `config`.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// `text` (a runner's output) or `junit` (JUnit XML on stdout, for CI systems).
    #[arg(long, default_value = "text", value_parser = ["text", "junit"])]
    format: String,
    /// Test files, or directories searched for `*.test.toml`. Default: the directory of --config, else `.`.
    paths: Vec<PathBuf>,
}

/// One test's result.
#[derive(Debug)]
pub struct Outcome {
    pub name: String,
    /// Empty: passed.
    pub failures: Vec<check::Failure>,
}

/// One file's results, or why it could not run.
#[derive(Debug)]
pub struct FileOutcome {
    pub path: PathBuf,
    pub result: Result<Vec<Outcome>, String>,
}

pub fn run(args: TestArgs) -> ExitCode {
    let files = match collect(&args) {
        Ok(f) if f.is_empty() => {
            eprintln!("hearth: test: no *.test.toml file found");
            return ExitCode::from(2);
        }
        Ok(f) => f,
        Err(e) => {
            eprintln!("hearth: test: {e}");
            return ExitCode::from(2);
        }
    };
    let outcomes: Vec<FileOutcome> =
        files.into_iter().map(|path| FileOutcome { result: run_file(&path, args.config.as_deref()), path }).collect();
    if args.format == "junit" {
        print!("{}", junit::render(&outcomes));
    } else {
        print!("{}", render_text(&outcomes));
    }
    if outcomes.iter().any(|f| f.result.is_err()) {
        ExitCode::from(2)
    } else if outcomes.iter().flat_map(|f| f.result.iter().flatten()).any(|t| !t.failures.is_empty()) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The test files named, in order; directories give their `*.test.toml` files, sorted.
fn collect(args: &TestArgs) -> Result<Vec<PathBuf>, String> {
    let paths = if args.paths.is_empty() {
        let dir = args.config.as_deref().and_then(Path::parent).filter(|p| !p.as_os_str().is_empty());
        vec![dir.map_or_else(|| PathBuf::from("."), Path::to_path_buf)]
    } else {
        args.paths.clone()
    };
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(&p)
                .map_err(|e| format!("{}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".test.toml")))
                .collect();
            found.sort();
            out.extend(found);
        } else if p.is_file() {
            out.push(p);
        } else {
            return Err(format!("{}: no such file or directory", p.display()));
        }
    }
    Ok(out)
}

fn run_file(path: &Path, config_override: Option<&Path>) -> Result<Vec<Outcome>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let tf = file::parse(&text)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let plan = load_config(&tf, base, config_override)?;
    let offline = Offline::from_plan(&plan).map_err(|e| e.to_string())?;
    let file_now = tf.now.as_deref().map(input::parse_time).transpose()?;
    let mut out = Vec::new();
    for case in &tf.tests {
        let failures = match case.now.as_deref().map(input::parse_time).transpose() {
            Ok(now) => {
                let now = now.or(file_now).unwrap_or_else(time::OffsetDateTime::now_utc);
                match input::messages(case, &plan, base, now) {
                    Ok(msgs) => check::run(case, &offline, &msgs),
                    Err(e) => vec![check::Failure::new("input", "a usable input", &e)],
                }
            }
            Err(e) => vec![check::Failure::new("now", "an RFC 3339 time", &e)],
        };
        out.push(Outcome { name: case.name.clone(), failures });
    }
    if out.is_empty() {
        return Err("no [[test]] in the file".into());
    }
    Ok(out)
}

/// The configuration a file tests: `--config`, else the file's `config` (relative to it) merged with its
/// `config_toml`. Environment overrides apply as for `hearth run`.
fn load_config(
    tf: &file::TestFile,
    base: &Path,
    config_override: Option<&Path>,
) -> Result<hearth_config::Plan, String> {
    let files: Vec<PathBuf> = match (config_override, &tf.config) {
        (Some(p), _) => vec![p.to_path_buf()],
        (None, Some(c)) => c.clone().into_vec().into_iter().map(|p| base.join(p)).collect(),
        (None, None) => return Err("no configuration: give `config` in the file or --config".into()),
    };
    let mut texts = Vec::new();
    for f in &files {
        texts.push(std::fs::read_to_string(f).map_err(|e| format!("config {}: {e}", f.display()))?);
    }
    if config_override.is_none()
        && let Some(extra) = &tf.config_toml
    {
        texts.push(extra.clone());
    }
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    hearth_config::load_merged(&refs, &std::env::vars().collect::<Vec<_>>()).map_err(|e| format!("config: {e}"))
}

fn render_text(outcomes: &[FileOutcome]) -> String {
    let (mut passed, mut failed, mut broken) = (0, 0, 0);
    let mut s = String::new();
    for f in outcomes {
        s.push_str(&format!("{}\n", f.path.display()));
        match &f.result {
            Err(e) => {
                broken += 1;
                s.push_str(&format!("  ERROR  {e}\n"));
            }
            Ok(tests) => {
                for t in tests {
                    if t.failures.is_empty() {
                        passed += 1;
                        s.push_str(&format!("  ok     {}\n", t.name));
                    } else {
                        failed += 1;
                        s.push_str(&format!("  FAIL   {}\n", t.name));
                        for fail in &t.failures {
                            s.push_str(&fail.render("           "));
                        }
                    }
                }
            }
        }
    }
    s.push_str(&format!("\n{passed} passed, {failed} failed"));
    if broken > 0 {
        s.push_str(&format!(", {broken} files not run"));
    }
    s.push('\n');
    s
}
