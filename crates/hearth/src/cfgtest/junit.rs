//! JUnit XML (the common subset CI systems read): one `<testsuite>` per test file, one `<testcase>` per test, a
//! `<failure>` with the expected-vs-actual text; a file that could not run is one `<testcase>` with an `<error>`.

use super::FileOutcome;

pub fn render(outcomes: &[FileOutcome]) -> String {
    let mut total = (0usize, 0usize, 0usize);
    let mut suites = String::new();
    for f in outcomes {
        let name = esc(&f.path.display().to_string());
        match &f.result {
            Err(e) => {
                total.0 += 1;
                total.2 += 1;
                suites.push_str(&format!(
                    "  <testsuite name=\"{name}\" tests=\"1\" failures=\"0\" errors=\"1\">\n    <testcase name=\"(file)\" classname=\"{name}\">\n      <error message=\"{}\"/>\n    </testcase>\n  </testsuite>\n",
                    esc(e)
                ));
            }
            Ok(tests) => {
                let failed = tests.iter().filter(|t| !t.failures.is_empty()).count();
                total.0 += tests.len();
                total.1 += failed;
                suites.push_str(&format!(
                    "  <testsuite name=\"{name}\" tests=\"{}\" failures=\"{failed}\" errors=\"0\">\n",
                    tests.len()
                ));
                for t in tests {
                    let tn = esc(&t.name);
                    if t.failures.is_empty() {
                        suites.push_str(&format!("    <testcase name=\"{tn}\" classname=\"{name}\"/>\n"));
                        continue;
                    }
                    let body: String = t.failures.iter().map(|x| x.render("")).collect();
                    let first = &t.failures[0];
                    suites.push_str(&format!(
                        "    <testcase name=\"{tn}\" classname=\"{name}\">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                        esc(&format!("{}: expected {}, got {}", first.what, first.expected, first.actual)),
                        esc(&body)
                    ));
                }
                suites.push_str("  </testsuite>\n");
            }
        }
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"hearth test\" tests=\"{}\" failures=\"{}\" errors=\"{}\">\n{suites}</testsuites>\n",
        total.0, total.1, total.2
    )
}

/// XML text and attribute escaping; characters XML 1.0 cannot hold become U+FFFD.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(esc("a<b & \"c\" 'd'>\u{1}"), "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;\u{FFFD}");
    }
}
