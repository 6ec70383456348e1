//! Argument errors clap words unhelpfully, reworded before they are shown.

use clap::error::{ContextKind, ContextValue, ErrorKind};

/// The message for a flag the command does not take and clap knows no similar one for, or for
/// a required argument left out, or `None` to show clap's own. clap's tip for the first is to
/// pass the flag as a value after `--` (which would make `--sepa` the deal's id), and its usage
/// line names only the required arguments, hiding the flags the user was looking for; this
/// names them all instead.
pub fn reworded(e: &clap::Error, cli: &clap::Command, args: &[String]) -> Option<String> {
    // A listing's kind is fixed: clap's nearest flag for `update --kind` is `--window`.
    if e.kind() == ErrorKind::UnknownArgument
        && matches!(e.get(ContextKind::InvalidArg), Some(ContextValue::String(f)) if f == "--kind" || f.starts_with("--kind="))
        && subcommand(cli, args).is_some_and(|c| c.get_name() == "update")
    {
        // The id and kind typed, where they can be told (a trial read a literal `ID`).
        let after: Vec<&str> =
            args.iter().skip_while(|a| *a != "update").skip(1).map(String::as_str).collect();
        let id = after
            .iter()
            .find(|a| a.len() >= 6 && a.bytes().all(|b| b.is_ascii_hexdigit()))
            .copied()
            .unwrap_or("ID");
        let kind = after
            .iter()
            .position(|a| *a == "--kind")
            .and_then(|at| after.get(at + 1).copied())
            .or_else(|| after.iter().find_map(|a| a.strip_prefix("--kind=")))
            .filter(|k| !k.is_empty() && !k.starts_with('-'))
            .unwrap_or("KIND");
        return Some(format!(
            "a listing's kind cannot change: publish it anew as the kind you want (haggle publish --from {id} --kind {kind}), then retract this one (haggle retract {id})"
        ));
    }
    // A message's text that starts with a dash reads as an option: say where it goes.
    if e.kind() == ErrorKind::UnknownArgument
        && let Some(ContextValue::String(flag)) = e.get(ContextKind::InvalidArg)
        && subcommand(cli, args).is_some_and(|c| c.get_name() == "message")
    {
        // clap names the first letters it read as flags (`-1` of `-10%`): the word typed says more.
        let word = args.iter().skip(1).find(|a| a.starts_with(flag.as_str())).unwrap_or(flag);
        return Some(format!(
            "unexpected argument '{word}': a message that starts with a dash goes after -- (haggle message ID -- \"-10% for cash?\"); options go before it or after the text"
        ));
    }
    // An id given to a command that lists (`deals 9e8cef`): the command that shows one.
    if e.kind() == ErrorKind::UnknownArgument
        && let Some(ContextValue::String(word)) = e.get(ContextKind::InvalidArg)
        && !word.starts_with('-')
        && let Some(listing) = subcommand(cli, args).map(|c| c.get_name().to_owned())
        && let Some(shows) = match listing.as_str() {
            "deals" => Some("deal"),
            "offers" | "listings" => Some("show"),
            _ => None,
        }
    {
        return Some(format!("haggle {listing} takes no id: haggle {shows} {word} shows that one"));
    }
    // `--kind free`: what is given for nothing is a giveaway (a trial got no hint).
    if e.kind() == ErrorKind::InvalidValue
        && matches!(e.get(ContextKind::InvalidArg), Some(ContextValue::String(a)) if a.starts_with("--kind"))
        && let Some(ContextValue::String(value)) = e.get(ContextKind::InvalidValue)
        && ["free", "gift", "freebie", "free-stuff"].contains(&value.to_ascii_lowercase().as_str())
    {
        return Some(format!(
            "invalid value '{value}' for '--kind': what is given away for nothing is a giveaway: --kind giveaway"
        ));
    }
    // A long value (a pasted paragraph as the title) is not repeated back whole.
    if e.kind() == ErrorKind::ValueValidation
        && let Some(ContextValue::String(value)) = e.get(ContextKind::InvalidValue)
        && value.chars().count() > MAX_ECHOED
        && let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg)
        && let Some(why) = std::error::Error::source(e)
    {
        let start: String = value.chars().take(MAX_ECHOED).collect();
        return Some(format!("invalid value '{start}…' for '{arg}': {why}"));
    }
    // A distance with no place to measure it from: clap's usage line would suggest words are
    // required too.
    if e.kind() == ErrorKind::MissingRequiredArgument
        && matches!(e.get(ContextKind::InvalidArg), Some(ContextValue::Strings(m)) if m.iter().any(|a| a.starts_with("--around")))
    {
        return Some(
            "--within is measured from a place: give one with --around (a latitude and longitude, e.g. --around 51.054,3.717, or a geohash)".to_owned(),
        );
    }
    // `--reference` is the IBAN transfer's: clap says only "missing --iban".
    if e.kind() == ErrorKind::MissingRequiredArgument
        && matches!(e.get(ContextKind::InvalidArg), Some(ContextValue::Strings(m)) if m.iter().any(|a| a.starts_with("--iban")))
        && args.iter().any(|a| a == "--reference" || a.starts_with("--reference="))
    {
        return Some(
            "--reference is what the buyer writes in a bank transfer: it goes with --iban (e.g. --iban \"BE71 0961 2345 6769\" --reference \"Road bike\"); for another way to pay, say it in --other".to_owned(),
        );
    }
    let what = match (e.kind(), e.get(ContextKind::InvalidArg)) {
        (ErrorKind::UnknownArgument, Some(ContextValue::String(flag)))
            if flag.starts_with('-') && !near_suggestion(e, cli, flag) =>
        {
            format!("unexpected argument '{flag}'")
        }
        // clap's usage line names only what is required: `pledge` without --amount was not
        // told of --withdraw.
        (ErrorKind::MissingRequiredArgument, Some(ContextValue::Strings(missing))) => {
            format!("missing {}", missing.join(", "))
        }
        _ => return None,
    };
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
    // A long list (publish has 35 flags) hides what is missing: clap's usage line is better.
    if e.kind() == ErrorKind::MissingRequiredArgument && flags.len() > MAX_LISTED {
        return None;
    }
    if positionals.is_empty() && flags.is_empty() {
        return Some(format!("{what}: haggle {name} takes no arguments"));
    }
    let takes = if flags.is_empty() {
        positionals.join(" ")
    } else if positionals.is_empty() {
        flags.join(", ")
    } else {
        format!("{} and {}", positionals.join(" "), flags.join(", "))
    };
    Some(format!("{what}: haggle {name} takes {takes} (haggle {name} --help says what each is)"))
}

/// Whether clap suggests a flag close to `flag`. Its suggestion of a global flag far from the
/// one typed is dropped: `pay-request ID --pric 5` was told of `--api`, under a usage line
/// `haggle pay-request --api <URL> <DEAL>` that read as if `--api` were needed (from a trial).
fn near_suggestion(e: &clap::Error, cli: &clap::Command, flag: &str) -> bool {
    let Some(ContextValue::String(suggested)) = e.get(ContextKind::SuggestedArg) else { return false };
    let name = |f: &str| f.trim_start_matches('-').split(['=', ' ']).next().unwrap_or_default().to_owned();
    let (typed, suggested) = (name(flag), name(suggested));
    let global = cli.get_arguments().any(|a| a.is_global_set() && a.get_long() == Some(suggested.as_str()));
    !global || haggle_node::config::edit_distance(&typed, &suggested) <= 2
}

/// The most flags listed for a required argument left out.
const MAX_LISTED: usize = 12;

/// The longest value an error repeats whole; a longer one is cut there.
const MAX_ECHOED: usize = 40;

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
        reworded(&e, &Cli::command(), &args)
    }

    use clap::Parser;

    /// From a trial: `search --kind free` got no hint that a giveaway is what is free.
    #[test]
    fn a_kind_called_free_is_a_giveaway() {
        for line in [
            "haggle search --kind free",
            "haggle publish --title Sofa --kind Free",
            "haggle watch --kind gift",
        ] {
            let text = said(line).expect("reworded");
            assert!(
                text.ends_with("what is given away for nothing is a giveaway: --kind giveaway"),
                "{text}"
            );
        }
        assert_eq!(said("haggle search --kind sale"), None, "other slips keep clap's list of kinds");
    }

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
        // What is missing, with what else there is (`pledge --withdraw` needs no amount).
        let text = said("haggle pledge 9a7135").expect("reworded");
        assert!(
            text.starts_with("missing --amount <AMOUNT>: haggle pledge takes CAMPAIGN and --amount"),
            "{text}"
        );
        assert!(text.contains("--withdraw"), "{text}");
        assert_eq!(said("haggle publish"), None, "publish's flags are too many to list");
        // A message's text starting with a dash read as an option: where it goes instead.
        let text = said("haggle ask 87b4b9 -10%").expect("reworded");
        assert!(text.contains("goes after -- (haggle message ID --"), "{text}");
        assert!(text.starts_with("unexpected argument '-10%'"), "the word typed, not clap's `-1`: {text}");
        assert_eq!(
            said("haggle offers --incoming").as_deref(),
            Some(
                "unexpected argument '--incoming': haggle offers takes --todo, --open, --limit, --offset (haggle offers --help says what each is)"
            )
        );
        assert_eq!(
            said("haggle status --todo").as_deref(),
            Some("unexpected argument '--todo': haggle status takes no arguments")
        );
        // From a trial: the id and kind typed, not `ID` and `KIND`.
        let text = said("haggle update 725e8d --kind rental").expect("reworded");
        assert!(
            text.starts_with("a listing's kind cannot change")
                && text.contains("(haggle publish --from 725e8d --kind rental)")
                && text.ends_with("(haggle retract 725e8d)"),
            "{text}"
        );
        let text = said("haggle update --kind=service 725e8d").expect("reworded");
        assert!(text.contains("(haggle publish --from 725e8d --kind service)"), "{text}");
        // A near miss keeps clap's own suggestion, of a global flag too.
        assert_eq!(said("haggle offer 87b4b9 --prise 3"), None);
        assert_eq!(said("haggle deal 87b4b9 --jsn"), None);
        // From a trial: a global flag far from the one typed is no suggestion.
        let text = said("haggle pay-request fd7382 --pric 5").expect("reworded");
        assert!(
            text.starts_with("unexpected argument '--pric': haggle pay-request takes DEAL and --iban"),
            "{text}"
        );
        let edits = haggle_node::config::edit_distance;
        assert_eq!((edits("pric", "api"), edits("jsn", "json"), edits("", "ab")), (3, 1, 2));
        // Defect: an id given to a command that lists was told clap's usage line.
        assert_eq!(
            said("haggle deals 9e8cef").as_deref(),
            Some("haggle deals takes no id: haggle deal 9e8cef shows that one")
        );
        let text = said("haggle offers 9e8cef").expect("reworded");
        assert!(text.ends_with("haggle show 9e8cef shows that one"), "{text}");
        // Defect: a reference without an IBAN was told only "missing --iban".
        let text = said("haggle pay-request 87b4b9 --cash --reference x").expect("reworded");
        assert!(
            text.starts_with("--reference is what the buyer writes in a bank transfer: it goes with --iban"),
            "{text}"
        );
    }

    /// A pasted paragraph given as a title comes back cut, with why it was refused.
    #[test]
    fn a_long_value_refused_is_not_repeated_whole() {
        let long = "word".repeat(50);
        let args: Vec<String> =
            ["haggle", "publish", "--title", &long, "--price", "5"].iter().map(|a| (*a).to_owned()).collect();
        let e = Cli::try_parse_from(&args).expect_err("a mistake");
        let text = reworded(&e, &Cli::command(), &args).expect("reworded");
        assert!(
            text.starts_with(&format!(
                "invalid value '{}…' for '--title <TITLE>': the title is 200 characters",
                &long[..40]
            )),
            "{text}"
        );
        assert!(!text.contains(&long[..41]), "{text}");
        // Defect (found in a trial): an empty title was told "title must not be empty", the
        // one refusal that said nothing of what to do.
        let e = Cli::try_parse_from(["haggle", "publish", "--title", " "]).expect_err("a mistake");
        assert!(e.to_string().contains("a listing needs a title: a few words that say what it is"), "{e}");
    }

    /// Pages are counted from 0 and 1, and the orders go by the words people use.
    #[test]
    fn paging_and_sorting_take_what_people_write() {
        let e = Cli::try_parse_from(["haggle", "search", "--offset", "-1"]).expect_err("a mistake");
        assert!(
            e.to_string().contains("`-1` is not a number of results to skip: give a whole number, 0 or more"),
            "{e}"
        );
        let e = Cli::try_parse_from(["haggle", "search", "--limit", "0"]).expect_err("a mistake");
        assert!(e.to_string().contains("from 1 to 500"), "{e}");
        for (word, sort) in [("cheapest", "price"), ("nearest", "distance"), ("latest", "newest")] {
            let Ok(Cli { command: crate::args::Command::Search(args), .. }) =
                Cli::try_parse_from(["haggle", "search", "--sort", word])
            else {
                panic!("{word} is taken")
            };
            assert_eq!(args.sort.map(|s| s.0.as_str()), Some(sort), "{word}");
        }
    }
}
