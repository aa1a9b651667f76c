//! Rendering.
use super::Measurements;
pub(crate) fn render(m: &Measurements) -> String {
    super::report_old::render_old(m)
}
#[cfg(test)]
mod tests {
    #[test]
    fn capture_golden() {
        let d = concat!(env!("CARGO_MANIFEST_DIR"), "/src/bench/testdata/");
        std::fs::write(format!("{d}expected-full.md"), super::render(&super::super::fixture::full_run())).unwrap();
        std::fs::write(format!("{d}expected-bare.md"), super::render(&super::super::fixture::bare_run())).unwrap();
    }
}
