//! The client commands, one module per group (mini-redis style): each command parses what is
//! left to parse, makes its API call through the typed client, and renders the answer (a table,
//! or the API's JSON with `--json`).

mod auction;
mod blocks;
mod booking;
mod campaign;
mod deal;
mod files;
mod from;
mod listings;
pub(crate) mod messages;
mod names;
mod negotiate;
mod reputation;
mod saved;
mod search;
mod status;
mod watch;

use anyhow::Result;

use haggle_node::ApiClient;
use haggle_node::api::types::StepRequest;

use crate::args::Command;
use crate::output;

pub use auction::{ends_cell as auction_ends, lines as auction_lines, price_cell as auction_price};
pub use booking::calendar_lines;
pub use campaign::{
    deadline_cell as campaign_deadline, lines as campaign_lines, price_cell as campaign_price,
};
pub use reputation::{brief as reputation_brief, sentence as reputation_sentence};

/// What every client command needs.
#[derive(Debug)]
pub struct Context<'a> {
    /// The node's API.
    pub api: &'a ApiClient,
    /// `--json`: print the API's answer instead of tables.
    pub json: bool,
}

/// A read made before a change only to say more about it (a note, a hint): its answer, or
/// nothing when the node refused it. A node gone or silent is the command's error, before the
/// change is sent: a trial's `renew` waited a minute for the read, then sent the renewal to
/// the node that had not answered, and waited a minute more.
pub fn aside<T>(read: Result<T, haggle_node::ClientError>) -> Result<Option<T>, haggle_node::ClientError> {
    match read {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.node_gone() => Err(e),
        Err(_) => Ok(None),
    }
}

/// Refuses `--currency` on a command whose amount is in the listing's currency (`book`,
/// `bid`, `pledge`), naming that currency when the node can say it. `what` is what is made (`a
/// pledge`), `whose` the listing as the command calls it (`the campaign`), `flag` the amount's
/// option (`--amount`). Asked on the error path only.
pub fn no_currency_of_ones_own(
    cx: &Context<'_>,
    listing: &str,
    what: &str,
    whose: &str,
    flag: &str,
) -> anyhow::Error {
    let currency = cx.api.listing(listing).ok().and_then(|l| l.price).map(|p| p.currency.to_string());
    crate::usage(match currency {
        Some(c) => format!("{what} is in {whose}'s currency, {c}: leave out --currency ({flag} is in {c})"),
        None => format!(
            "{what} is in {whose}'s currency (`haggle show {listing}` says which): leave out --currency"
        ),
    })
}

/// Runs a client command. After one that has the node sign something, or look at the market,
/// a note says so if the node finds its clock more than a minute off its peers': what it signs
/// carries that clock's date, and a clock far behind refuses what peers sign. Also after such a
/// command failed: "the auction ended" or "no listing matches" can be the clock's doing.
pub fn run(mut command: Command, cx: &Context<'_>) -> Result<()> {
    // `--seller NAME`: the key of a name the owner gave, looked up before anything else.
    if let Command::Search(args) = &mut command {
        args.filters.check_within()?;
        args.filters.resolve_seller(|| named(cx))?;
    } else if let Command::Watch(args) = &mut command {
        args.filters.check_within()?;
        args.filters.resolve_seller(|| named(cx))?;
    }
    // The owner's names for keys, shown in their place (`haggle name`): read the first time a
    // key is shown.
    if !cx.json {
        output::names_from(cx.api);
    }
    let dated = matches!(
        command,
        Command::Publish(_)
            | Command::Show { .. }
            | Command::Update(_)
            | Command::Renew { .. }
            | Command::Retract { .. }
            | Command::Search(_)
            | Command::Offer(_)
            | Command::Bid(_)
            | Command::Book(_)
            | Command::Pledge(_)
            | Command::Counter(_)
            | Command::Accept { .. }
            | Command::Decline { .. }
            | Command::Withdraw { .. }
            | Command::PayRequest(_)
            | Command::Paid { .. }
            | Command::Shipped { .. }
            | Command::Received { .. }
            | Command::Deliver { .. }
            | Command::Cancel { .. }
            | Command::Dispute { .. }
            | Command::Feedback { .. }
            | Command::Message { .. }
    );
    let done = dispatch(command, cx);
    // Not after a mistake in the command itself, nor when the node could not be asked.
    if dated && done.as_ref().err().is_none_or(reached) {
        status::clock_note(cx);
    }
    done
}

/// Whether the node answered (an error of the node's, not a failure to reach it).
fn reached(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<haggle_node::ClientError>()
            .is_some_and(|c| matches!(c, haggle_node::ClientError::Api { .. }))
    })
}

fn dispatch(command: Command, cx: &Context<'_>) -> Result<()> {
    match command {
        Command::Status => status::status(cx),
        Command::Peers => status::peers(cx),
        Command::Publish(args) => listings::publish(cx, args),
        Command::Update(args) => listings::update(cx, args),
        Command::Renew { id, expires } => listings::renew(cx, &id, expires),
        Command::Retract { id } => listings::retract(cx, &id),
        Command::Listings(args) => listings::mine(cx, &args),
        Command::Show { id, exact, images } => listings::show(cx, &id, exact, images.as_deref()),
        Command::Download { deal, out, force } => files::download(cx, &deal, out.as_deref(), force),
        Command::Search(args) => search::search(cx, &args),
        Command::Watch(args) => watch::watch(cx, &args),
        Command::Offer(args) => negotiate::offer(cx, &args.listing, &args.terms),
        Command::Bid(args) => auction::bid(cx, &args),
        Command::Book(args) => booking::book(cx, &args),
        Command::Pledge(args) => campaign::pledge(cx, &args),
        Command::Counter(args) => negotiate::counter(cx, &args.thread, &args.terms, args.as_offered),
        Command::Accept { thread, as_offered } => negotiate::accept(cx, &thread, as_offered),
        Command::Decline { thread, message } => negotiate::decline(cx, &thread, message),
        Command::Withdraw { thread, message } => negotiate::withdraw(cx, &thread, message),
        Command::Offers(args) => negotiate::offers(cx, &args),
        Command::Deals(args) => negotiate::deals(cx, &args),
        Command::Deal { deal } => deal::show(cx, &deal),
        Command::PayRequest(args) => deal::pay_request(cx, args),
        Command::Paid { deal, reference } => deal::step(cx, &deal, StepRequest::Paid { reference }),
        Command::Shipped { deal, tracking } => deal::step(cx, &deal, StepRequest::Shipped { tracking }),
        Command::Received { deal } => deal::step(cx, &deal, StepRequest::Received {}),
        Command::Deliver { deal } => deal::step(cx, &deal, StepRequest::Deliver {}),
        Command::Cancel { deal, message: None } => deal::step(cx, &deal, StepRequest::Cancel {}),
        Command::Cancel { deal, message: Some(message) } => deal::cancel_saying(cx, &deal, &message),
        Command::Dispute { deal, reason } => deal::step(cx, &deal, StepRequest::Dispute { reason }),
        Command::Feedback { deal, rating, text } => reputation::feedback(cx, &deal, rating.0, text),
        Command::Reputation { who } => reputation::show(cx, who.as_deref()),
        Command::Block { who, note } => blocks::block(cx, &who, note),
        Command::Unblock { who } => blocks::unblock(cx, &who),
        Command::Blocked => blocks::list(cx),
        Command::Name { who, name: Some(name), .. } => names::name(cx, &who, &name),
        Command::Name { who, name: None, .. } => names::clear(cx, &who),
        Command::Names => names::list(cx),
        Command::Message { id, text } => messages::send(cx, &id, &text),
        Command::Messages { id: None, .. } => messages::list(cx),
        Command::Messages { id: Some(id), peek } => messages::show(cx, &id, !peek),
        Command::Saved { name: None, .. } => saved::list(cx),
        Command::Saved { name: Some(name), delete: true, .. } => saved::delete(cx, &name),
        Command::Saved { name: Some(name), peek, .. } => saved::look(cx, &name, !peek),
        Command::Node(_) | Command::Id | Command::Completions { .. } => {
            unreachable!("`node`, `id` and `completions` are run by main before a client exists")
        }
    }
}

/// The owner's names for keys, as `--seller` looks one up.
fn named(cx: &Context<'_>) -> Result<Vec<(haggle_node::api::types::PublicKey, String)>> {
    Ok(cx.api.names()?.names.into_iter().map(|n| (n.key, n.name)).collect())
}

#[cfg(test)]
mod tests {
    use haggle_node::ClientError;
    use haggle_node::api::types::ErrorCode;

    /// A read before a change says more when it can; a node that did not answer stops the
    /// command before the change is sent.
    #[test]
    fn a_read_aside_stops_the_command_only_when_the_node_is_gone() {
        assert_eq!(super::aside::<u8>(Ok(7)).expect("read"), Some(7));
        let refused = ClientError::Api {
            status: 404,
            code: ErrorCode::NotFound,
            message: "no listing".into(),
            candidates: Vec::new(),
        };
        assert_eq!(super::aside::<u8>(Err(refused)).expect("nothing to add"), None);
        let silent = ClientError::NoAnswer {
            writes: false,
            url: "http://127.0.0.1:9/v1/listings/ab".into(),
            secs: 60,
        };
        assert!(super::aside::<u8>(Err(silent)).is_err(), "a node that did not answer is not asked again");
    }
}
