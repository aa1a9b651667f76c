//! Library errors in the words of the command line: the library names its settings (`osc
//! rate`), the binaries name the flags that set them (`--osc-rate`).

/// The flag that sets each library setting named in [`mstag::Error::InvalidSetting`].
const FLAGS: &[(&str, &str)] = &[
    ("window", "--window"),
    ("ema", "--ema"),
    ("device", "--device"),
    ("osc target", "--osc"),
    ("osc prefix", "--osc-prefix"),
    ("osc rate", "--osc-rate"),
    ("osc smoothing", "--osc-smooth"),
    ("ring_capacity_s", "--ring"),
];

/// The flag of a library setting, if a flag sets it.
pub fn flag_of(setting: &str) -> Option<&'static str> {
    FLAGS.iter().find(|(s, _)| *s == setting).map(|(_, f)| *f)
}

/// `e` and its sources as a command-line user should read them (see [`describe_one`]).
pub fn describe(e: &mstag::Error) -> String {
    let mut text = describe_one(e);
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&match s.downcast_ref::<mstag::Error>() {
            Some(m) => describe_one(m),
            None => s.to_string(),
        });
        source = s.source();
    }
    text
}

/// `e`'s own message as a command-line user should read it: settings named by their flags,
/// and the flag that tags silence when the silence gate left nothing to tag.
pub fn describe_one(e: &mstag::Error) -> String {
    let text = e.to_string();
    match e {
        mstag::Error::InvalidSetting { name, .. } => match flag_of(name) {
            Some(flag) => text.replacen(
                &format!("invalid setting {name} "),
                &format!("invalid setting {flag} "),
                1,
            ),
            None => text,
        },
        mstag::Error::NoScores {
            reason: mstag::engine::NoScores::SilentScales(_),
            ..
        } => format!("{text} (--no-silence-gate)"),
        _ => text,
    }
}

/// An error chain printed as `{:#}` does, with every library error in it [`describe`]d.
pub fn describe_chain(e: &anyhow::Error) -> String {
    e.chain()
        .map(|cause| match cause.downcast_ref::<mstag::Error>() {
            Some(m) => describe_one(m),
            None => cause.to_string(),
        })
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_named_by_their_flags() {
        let e = mstag::Error::InvalidSetting {
            name: "osc rate",
            value: "0".into(),
            reason: "1 to 120 Hz".into(),
        };
        assert_eq!(describe(&e), "invalid setting --osc-rate = 0: 1 to 120 Hz");
        let chained = anyhow::Error::from(e).context("starting OSC");
        assert_eq!(
            describe_chain(&chained),
            "starting OSC: invalid setting --osc-rate = 0: 1 to 120 Hz"
        );
    }

    #[test]
    fn silence_points_at_the_flag_that_tags_it() {
        let e = mstag::Error::NoScores {
            path: Some("quiet.wav".into()),
            reason: mstag::engine::NoScores::SilentScales(vec![54]),
        };
        let text = describe(&e);
        assert!(text.starts_with("quiet.wav: nothing to tag"), "{text}");
        assert!(text.ends_with("(--no-silence-gate)"), "{text}");
    }
}
