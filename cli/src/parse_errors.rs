//! Argument errors clap words unhelpfully, reworded before they are shown.

use clap::error::{ContextKind, ContextValue, ErrorKind};

/// The message for a flag the command does not take and clap knows no similar one for, or
/// `None` to show clap's own. clap's tip there is to pass the flag as a value after `--`
/// (which would make `--sepa` the deal's id), and its usage line names only the required
/// arguments, hiding the flags the user was looking for; this names them all instead.
pub fn unknown_flag(e: &clap::Error, cli: &clap::Command, args: &[String]) -> Option<String> {
    if e.kind() != ErrorKind::UnknownArgument || e.get(ContextKind::SuggestedArg).is_some() {
        return None;
    }
    let Some(ContextValue::String(flag)) = e.get(ContextKind::InvalidArg) else { return None };
    if !flag.starts_with('-') {
        return None;
    }
    let command = subcommand(cli, args)?;
    let name = command.get_name();
    let shown = |a: &&clap::Arg| !a.is_hide_set() && !a.is_global_set() && a.get_id() != "help";
    let positionals: Vec<String> = command
        .get_arguments()
        .filter(shown)
        .filter(|a| a.is_positional())
        .map(|a| {
            a.get_value_names()
                .and_then(|v| v.first())
                .map_or_else(|| a.get_id().to_string(), |v| v.to_string())
        })
        .collect();
    let flags: Vec<String> = command
        .get_arguments()
        .filter(shown)
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .collect();
    let takes = match (positionals.is_empty(), flags.is_empty()) {
        (true, true) => "no arguments".to_owned(),
        (false, true) => positionals.join(" "),
        (true, false) => flags.join(", "),
        (false, false) => format!("{} and {}", positionals.join(" "), flags.join(", ")),
    };
    Some(format!(
        "unexpected argument '{flag}': haggle {name} takes {takes} (haggle {name} --help says what each is)"
    ))
}

/// The subcommand `args` name: the first word that is not an option or an option's value.
fn subcommand<'a>(cli: &'a clap::Command, args: &[String]) -> Option<&'a clap::Command> {
    let with_value = ["--data-dir", "--api"];
    let mut words = args.iter().skip(1);
    while let Some(word) = words.next() {
        if with_value.contains(&word.as_str()) {
            words.next();
        } else if !word.starts_with('-') {
            return cli.find_subcommand(word);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::args::Cli;

    fn said(line: &str) -> Option<String> {
        let args: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        let e = Cli::try_parse_from(&args).expect_err("a mistake");
        unknown_flag(&e, &Cli::command(), &args)
    }

    use clap::Parser;

    /// Defect: `pay-request DEAL --sepa ...` was told to pass `-- --sepa` (which would be taken
    /// for the deal's id), under a usage line naming none of the ways to pay.
    #[test]
    fn an_unknown_flag_is_answered_with_the_flags_the_command_takes() {
        let text = said("haggle --data-dir x pay-request 87b4b9 --sepa BE71").expect("reworded");
        assert!(
            text.starts_with("unexpected argument '--sepa': haggle pay-request takes DEAL and --iban, --reference, --bitcoin"),
            "{text}"
        );
        assert!(text.contains("--cash") && !text.contains("--json"), "{text}");
        let text = said("haggle feedback 87b4b9 --rating positive").expect("reworded");
        assert!(text.contains("haggle feedback takes DEAL RATING and --text"), "{text}");
        // A near miss keeps clap's own suggestion.
        assert_eq!(said("haggle offer 87b4b9 --prise 3"), None);
    }
}
