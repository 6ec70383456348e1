//! Command-line arguments. Every value is parsed into its real type here (kinds, periods,
//! currencies, keys, durations), so a mistake is reported before any work starts.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::PossibleValue;
use clap::{Args, Parser, Subcommand, ValueEnum};

use haggle_node::api::types::{
    Currency, ListingKind, ListingsState, Period, PublicKey, Rating, SearchParams, Sort, TermsDraft,
};

#[derive(Debug, Parser)]
#[command(
    name = "haggle",
    version,
    about = "A peer-to-peer marketplace: publish listings, search, and negotiate deals directly with other people.",
    after_help = "Start a node with `haggle node`, then use the other commands in another terminal.\n\
                  Examples:\n  haggle node\n  haggle publish --title \"Road bike\" --price 120 --currency EUR \\\n      --category vehicles/bikes\n  \
                  haggle search bike --max-price 200 --currency EUR\n  haggle offer 3fa2c1 --price 100"
)]
pub struct Cli {
    /// The node's data directory (identity, database, config).
    #[arg(long, global = true, help_heading = "Global options", env = "HAGGLE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Talk to the node API at this URL instead of the data dir's (token from HAGGLE_API_TOKEN),
    /// e.g. http://127.0.0.1:7401 (`http://` may be left out).
    #[arg(long, global = true, help_heading = "Global options", value_name = "URL", value_parser = api_url)]
    pub api: Option<String>,
    /// Print JSON instead of tables: one document (one line per event for `watch`).
    #[arg(long, global = true, help_heading = "Global options")]
    pub json: bool,
    /// More log output (repeat for more); RUST_LOG overrides.
    #[arg(short, long, global = true, help_heading = "Global options", action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors in the log.
    #[arg(short, long, global = true, help_heading = "Global options")]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a node in the foreground (creates the identity and data dir on first run).
    #[command(
        after_help = "Examples:\n  haggle node\n  haggle --data-dir /tmp/b node \\\n      --bootstrap /ip4/127.0.0.1/tcp/7400/p2p/12D3KooW... \\\n      --listen /ip4/127.0.0.1/tcp/0 --api-listen 127.0.0.1:0"
    )]
    Node(NodeArgs),
    /// Print this node's id (its PeerId).
    #[command(after_help = "Examples:\n  haggle id\n  haggle --data-dir /tmp/b id")]
    Id,
    /// Show the node's state: peers, listings stored, outbox, API address.
    #[command(after_help = "Examples:\n  haggle status\n  haggle --json status")]
    Status,
    /// List connected peers.
    #[command(after_help = "Example:\n  haggle peers")]
    Peers,
    /// Publish a new listing.
    #[command(
        after_help = "Examples:\n  haggle publish --title \"Road bike\" --price 120 --currency EUR \\\n      --category vehicles/bikes --tag steel\n  \
                            haggle publish --kind rental --title \"Cargo trailer\" --price 15 \\\n      --currency EUR --per day --category vehicles/trailers\n  \
                            haggle publish --kind giveaway --title \"Sofa\" --category home/furniture \\\n      --location Ghent\n  \
                            haggle publish --kind auction --title \"Brass lamp\" --price 50 --currency EUR \\\n      --ends 3d --reserve 80 --increment 2 --category home/lighting\n  \
                            haggle publish --kind rental --title \"Cabin\" --price 60 \\\n      --currency EUR --per day --available 2026-12-01..2027-04-01 \\\n      --min-stay 2 --category stays/cabins\n  \
                            haggle publish --kind crowdfund --title \"Community oven\" --goal 5000 \\\n      --currency EUR --deadline 30d --category community/food \\\n      --tier \"Sticker:10\" --tier \"Loaf a week:100:50\"\n  \
                            haggle publish --title \"Oak armchair\" --price 80 --currency EUR \\\n      --image front.jpg --image back.jpg --category home/furniture\n  \
                            haggle publish --kind digital --title \"Bread at home (e-book)\" --price 5 \\\n      --currency EUR --file bread.epub --preview chapter1.pdf \\\n      --category books/cooking\n  \
                            # another like an earlier listing, sold out or not:\n  \
                            haggle publish --from 3fa2c1 --price 110"
    )]
    Publish(PublishArgs),
    /// Change one of your listings (a new revision; unchanged fields stay).
    #[command(
        after_help = "Examples:\n  haggle update 3fa2c1 --price 110 --qty 2\n  haggle update 3fa2c1 --image front.jpg --image side.jpg\n  haggle update 3fa2c1 --no-images"
    )]
    Update(UpdateArgs),
    /// Give one of your listings a new lifetime, counted from now (by default 30 days, or what
    /// it had left if that is longer).
    #[command(after_help = "Example:\n  haggle renew 3fa2c1 --expires 30d")]
    Renew {
        /// Listing id (any unique prefix of 6+ characters).
        #[arg(value_parser = id_prefix)]
        id: String,
        /// New lifetime from now, e.g. 30d, 2w, 12h.
        #[arg(long, value_name = "DURATION", allow_hyphen_values = true, value_parser = duration)]
        expires: Option<Duration>,
    },
    /// Close one of your listings (everyone's copy is replaced by a signed tombstone).
    #[command(after_help = "Example:\n  haggle retract 3fa2c1")]
    Retract {
        /// Listing id (any unique prefix of 6+ characters).
        #[arg(value_parser = id_prefix)]
        id: String,
    },
    /// List your own listings (all of them, or those a kind, state or category picks, a page at a
    /// time)
    #[command(
        after_help = "Examples:\n  haggle listings\n  haggle listings --state active --category music --limit 20\n  haggle listings --kind rental\n  haggle --json listings --state closed"
    )]
    Listings(ListingsArgs),
    /// Show a listing, offer thread or deal by id.
    #[command(
        alias = "thread",
        after_help = "Examples:\n  haggle show 3fa2c1\n  haggle --json show 9b1d0e\n  haggle show 3fa2c1 --exact\n  haggle show 3fa2c1 --images\n  haggle show 3fa2c1 --images ~/Pictures/haggle"
    )]
    Show {
        /// Any unique prefix of 6+ characters.
        #[arg(value_parser = id_prefix)]
        id: String,
        /// For a listing revision's id: show that revision as it read (what an offer made on it
        /// was made on), not the listing's current revision.
        #[arg(long)]
        exact: bool,
        /// For a listing: fetch its pictures (and a digital good's preview) from peers, check
        /// them against their hashes and save them in DIR (default: the current directory), as
        /// <listing>-<n>.<jpg|png|webp|gif> and <listing>-preview.
        #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = ".")]
        images: Option<PathBuf>,
    },
    /// Buyer: fetch a digital good you bought (once the seller's node sent the key, after
    /// `haggle paid`), decrypt it and check it against the listing's hash.
    #[command(
        after_help = "Examples:\n  haggle download 3724ae\n  haggle download 3724ae --out ~/Books/\n  haggle download 3724ae --out bread.epub --force"
    )]
    Download {
        /// Deal id (prefix of 6+ characters).
        #[arg(value_parser = id_prefix)]
        deal: String,
        /// Where to save the file: a file (it must not exist yet unless --force), or a directory
        /// (saved there under the file's own name). Default: the file's own name, here.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Search the listings this node knows.
    #[command(
        after_help = "Examples:\n  haggle search road bike\n  haggle search --category vehicles --max-price 300 --currency EUR --sort price\n  haggle search --kind giveaway --near ghent\n  haggle search bike --around 51.054,3.717 --within 10km --sort distance"
    )]
    Search(SearchArgs),
    /// Make an offer on someone's listing.
    #[command(after_help = "Example:\n  haggle offer 3fa2c1 --price 100 --message \"Can pick up Saturday\"")]
    Offer(OfferArgs),
    /// Ask to book a rental for some nights, or a service for some days (an offer with dates;
    /// without --price it offers the asking price).
    #[command(
        after_help = "Examples:\n  haggle book 3fa2c1 --from 2026-12-20 --to 2026-12-27  (7 nights)\n  haggle book 8be41d --from 2026-12-20 --to 2026-12-22  (a service: 2 days)"
    )]
    Book(BookArgs),
    /// Pledge to a crowdfunding campaign (public; it binds you only if the goal is met), or
    /// withdraw your pledge before the deadline.
    #[command(
        after_help = "Examples:\n  haggle pledge 3fa2c1 --amount 50\n  haggle pledge 3fa2c1 --withdraw"
    )]
    Pledge(PledgeArgs),
    /// Bid on an auction (a public bid every node sees; it binds you if it wins).
    #[command(after_help = "Example:\n  haggle bid 3fa2c1 --price 57")]
    Bid(BidArgs),
    /// Answer the other party's terms with new ones.
    #[command(after_help = "Example:\n  haggle counter 9b1d0e --price 110")]
    Counter(CounterArgs),
    /// Accept the other party's terms: this makes a deal.
    #[command(after_help = "Example:\n  haggle accept 9b1d0e")]
    Accept {
        /// Thread id (the offer's id, or any message's; prefix of 6+ characters).
        #[arg(value_parser = id_prefix)]
        thread: String,
        /// Accept an offer made on an earlier revision of your listing whose description,
        /// pictures or other text changed since (a new price alone needs nothing): the deal
        /// stands on the revision offered on.
        #[arg(long)]
        as_offered: bool,
    },
    /// Refuse the other party's terms and end the thread.
    #[command(after_help = "Example:\n  haggle decline 9b1d0e --message \"Sold elsewhere, sorry\"")]
    Decline {
        /// Thread id (the offer's id, or any message's; prefix of 6+ characters).
        #[arg(value_parser = id_prefix)]
        thread: String,
        /// A note to the other party.
        #[arg(long, short, default_value = "", hide_default_value = true, value_parser = note)]
        message: String,
    },
    /// Take back your own offer or counter and end the thread.
    #[command(after_help = "Example:\n  haggle withdraw 9b1d0e --message \"Found one nearer\"")]
    Withdraw {
        /// Thread id (the offer's id, or any message's; prefix of 6+ characters).
        #[arg(value_parser = id_prefix)]
        thread: String,
        /// A note to the other party.
        #[arg(long, short, default_value = "", hide_default_value = true, value_parser = note)]
        message: String,
    },
    /// List your negotiation threads, incoming and outgoing (all of them, or those waiting on
    /// you or still open, a page at a time)
    #[command(
        after_help = "Examples:\n  haggle offers\n  haggle offers --todo\n  haggle offers --open --limit 20\n  haggle --json offers"
    )]
    Offers(InboxArgs),
    /// List your deals: where each stands and whose step it is (all of them, or those waiting on
    /// you or not over, a page at a time)
    #[command(after_help = "Examples:\n  haggle deals\n  haggle deals --todo\n  haggle --json deals --open")]
    Deals(InboxArgs),
    /// Show one deal: its terms, how to pay, and its timeline.
    #[command(after_help = "Example:\n  haggle deal 3724ae")]
    Deal {
        /// Deal id (prefix of 6+ characters).
        #[arg(value_parser = id_prefix)]
        deal: String,
    },
    /// Seller: tell the buyer how to pay (checked for shape, never executed).
    #[command(
        after_help = "Examples:\n  haggle pay-request 3724ae --iban \"BE71 0961 2345 6769\" --reference \"Road bike\"\n  haggle pay-request 3724ae \\\n      --bitcoin bitcoin:bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq\n  haggle pay-request 3724ae --cash"
    )]
    PayRequest(PayRequestArgs),
    /// Buyer: say you paid.
    #[command(after_help = "Example:\n  haggle paid 3724ae --reference \"transfer 2026-12-01\"")]
    Paid {
        /// Deal id (prefix of 6+ characters).
        #[arg(value_parser = id_prefix)]
        deal: String,
        /// A transaction id or transfer reference.
        #[arg(long)]
        reference: Option<String>,
    },
    /// Seller (or giver): say you shipped or handed it over.
    #[command(after_help = "Example:\n  haggle shipped 3724ae --tracking \"bpost 3232 1234 5678\"")]
    Shipped {
        /// Deal id (prefix of 6+ characters).
        #[arg(value_parser = id_prefix)]
        deal: String,
        /// Tracking text.
        #[arg(long)]
        tracking: Option<String>,
    },
    /// Seller of a digital good: hand the buyer the key now (your node does it by itself once
    /// the buyer says it paid, unless deliver_on_paid = false in config.toml).
    #[command(after_help = "Example:\n  haggle deliver 3724ae")]
    Deliver {
        /// Deal id (prefix of 6+ characters).
        #[arg(value_parser = id_prefix)]
        deal: String,
    },
    /// Buyer (or taker): say you received it; the trade is complete.
    #[command(after_help = "Example:\n  haggle received 3724ae")]
    Received {
        /// Deal id (prefix of 6+ characters).
        #[arg(value_parser = id_prefix)]
        deal: String,
    },
    /// Agree to call a deal off (it is, once both parties have).
    #[command(
        after_help = "Examples:\n  haggle cancel 3724ae\n  haggle cancel 3724ae --message \"Sorry, it broke before I could ship it\""
    )]
    Cancel {
        /// Deal id (prefix of 6+ characters).
        #[arg(value_parser = id_prefix)]
        deal: String,
        /// Why, to the other party: sent as a message in the deal's conversation once the
        /// cancel is signed (haggle messages DEAL shows it).
        #[arg(long, short)]
        message: Option<String>,
    },
    /// Open a dispute on a deal: tell the other party what is wrong.
    #[command(after_help = "Example:\n  haggle dispute 3724ae --reason \"Paid on Monday, nothing shipped\"")]
    Dispute {
        /// Deal id (prefix of 6+ characters).
        #[arg(value_parser = id_prefix)]
        deal: String,
        /// What is wrong.
        #[arg(long)]
        reason: String,
    },
    /// Rate a deal, publicly: once it is received, or has stayed at one stage for 14 days.
    #[command(
        after_help = "Examples:\n  haggle feedback 3724ae positive --text \"Quick and friendly\"\n  haggle feedback 3724ae negative --text \"Paid three weeks ago, nothing shipped\"\n\nThe rating is signed and public, one per deal: haggle gives no way to change or withdraw it. Anyone can check it was a real deal and that you were a party."
    )]
    Feedback {
        /// Deal id (prefix of 6+ characters).
        #[arg(value_parser = id_prefix)]
        deal: String,
        /// How it went.
        #[arg(value_enum, ignore_case = true)]
        rating: Choice<Rating>,
        /// What to say (one line, up to 500 characters).
        #[arg(long, default_value = "", hide_default_value = true)]
        text: String,
    },
    /// Show what this node knows of someone's deals: a key, a name you gave, a listing's seller,
    /// or the other party of a thread, deal or message.
    #[command(
        after_help = "What it shows:\n  raw           one count per counterparty: never trusted (keys are free)\n  weighted      each rating weighs its rater's standing, shared among all\n                it rated\n  web of trust  only raters within trust_hops (2) steps of you: people you\n                traded with, and those they rated positive\n  standing      0 to 1: 1 for you, your trusted keys and whom you rated\n                positive; half of it passes on along positive ratings\n  ✓ trusted     you rated them positive, or weighted positive minus\n                negative reaches 1\n\nExamples:\n  haggle reputation                (what the ratings held here say of you)\n  haggle reputation 12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5\n  haggle reputation 3fa2c1         (the seller of that listing)\n  haggle reputation Bob            (a key you named)"
    )]
    Reputation {
        /// A PeerId, a name you gave (haggle name), or the id (prefix of 6+ characters) of a
        /// listing, or of a thread, deal or message with them; `me` or none: what this node's
        /// ratings say of you.
        #[arg(value_parser = identity)]
        who: Option<String>,
    },
    /// Block someone: their listings leave your searches and `watch`, and no new offer or booking
    /// starts between you, either way (on your node only; nothing is published)
    #[command(
        after_help = "Examples:\n  haggle block 3fa2c1                     (the author of that listing)\n  haggle block 9b1d0e --note \"lowball offers\"  (the other party of that thread)\n  haggle block 5e77a0                     (who wrote that message)\n  haggle block 12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5\n\nThreads and deals already open with them go on, messages in them too: decline, withdraw or cancel them as usual."
    )]
    Block {
        /// A PeerId, a name you gave (haggle name), or the id (prefix of 6+ characters) of their
        /// listing, a thread with them or a deal with them.
        #[arg(value_parser = blockee)]
        who: String,
        /// Why, for your own memory (never sent); at most 200 characters.
        #[arg(long, value_name = "TEXT", value_parser = block_note)]
        note: Option<String>,
    },
    /// Unblock someone you blocked
    #[command(
        after_help = "Examples:\n  haggle unblock 12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5\n  haggle unblock 3fa2c1        (the author of that listing)"
    )]
    Unblock {
        /// A PeerId (haggle blocked lists them), a name you gave, or an id as for `haggle block`.
        #[arg(value_parser = blockee)]
        who: String,
    },
    /// List the people you blocked, the most recent first
    Blocked,
    /// Give someone's key a name of your own, shown in its place (on your node only; nothing is
    /// published), or take it away with --clear
    #[command(
        after_help = "Examples:\n  haggle name 9b1d0e Bob           (the other party of that thread)\n  haggle name 3fa2c1 \"Anna (bikes)\"   (the author of that listing)\n  haggle name Bob \"Bob from Ghent\"  (renames Bob)\n  haggle name --clear Bob\n\nA name stands in for the key in tables and lines, and is taken wherever a key is (haggle reputation Bob, haggle block Bob). It is yours alone: nobody else sees it or can set it."
    )]
    Name {
        /// A PeerId, a name you gave, or the id (prefix of 6+ characters) of their listing, a
        /// thread, deal or message with them.
        #[arg(value_parser = blockee)]
        who: String,
        /// The name: 1 to 32 characters, not shaped like a key or an id.
        #[arg(value_parser = person_name, required_unless_present = "clear", conflicts_with = "clear", allow_hyphen_values = true)]
        name: Option<String>,
        /// Take the name away.
        #[arg(long)]
        clear: bool,
    },
    /// List the names you gave people's keys
    Names,
    /// Your saved searches, and what is new for one since you last looked (`haggle search ...
    /// --save NAME` saves one)
    #[command(
        after_help = "Examples:\n  haggle search road bike --max-price 150 --currency EUR --save road-bikes\n  haggle saved                    (each saved search, with how many are new)\n  haggle saved road-bikes         (what is new or repriced since last time)\n  haggle saved road-bikes --peek  (the same, still counted as new next time)\n  haggle saved road-bikes --delete"
    )]
    Saved {
        /// A saved search's name: show what is new for it since you last looked.
        #[arg(value_parser = saved_name)]
        name: Option<String>,
        /// Show what is new without counting it as seen.
        #[arg(long, requires = "name", conflicts_with = "delete")]
        peek: bool,
        /// Delete the saved search.
        #[arg(long, requires = "name")]
        delete: bool,
    },
    /// Send a message to the other side: a question to a listing's author, or a note in a
    /// thread or deal (it binds nobody: terms go by offer and counter)
    #[command(
        visible_alias = "ask",
        after_help = "Examples:\n  # a listing: to its author\n  haggle ask 3fa2c1 \"Is it still available? Does it come with lights?\"\n  # a thread or deal: to the other party\n  haggle message 9b1d0e \"I can pick it up on Saturday\"\n  # a message: an answer in its conversation\n  haggle message 5e77a0 \"Yes, until Friday\""
    )]
    Message {
        /// What it is about: someone else's listing (to its author), your own listing (to the
        /// one person who wrote about it), a thread or deal (to the other party), or a message
        /// (answered in its conversation); prefix of 6+ characters.
        #[arg(value_parser = id_prefix)]
        id: String,
        /// The text: the words after the id, joined with spaces (quote it to keep it as
        /// typed); at most 2,048 bytes. Options may come after it; a text that starts with a
        /// dash goes after `--` (haggle message ID -- "-10% for cash?").
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
    },
    /// Your conversations, or one conversation's messages (marked read)
    #[command(
        after_help = "Examples:\n  # each conversation, newest first, with how many are new\n  haggle messages\n  # one conversation: a message's, listing's, thread's or deal's id\n  haggle messages 5e77a0\n  # the same, still counted as new next time\n  haggle messages 5e77a0 --peek"
    )]
    Messages {
        /// A message's, listing's, thread's or deal's id (prefix of 6+ characters): show that
        /// conversation.
        #[arg(value_parser = id_prefix)]
        id: Option<String>,
        /// Show it without counting its messages as read.
        #[arg(long, requires = "id")]
        peek: bool,
    },
    /// Follow live events: new listings (matching the search, if given), offers, deals,
    /// messages.
    #[command(
        after_help = "Examples:\n  haggle watch\n  haggle watch bike --max-price 200 --currency EUR\n  haggle watch --saved bikes     (the words and filters of a saved search)"
    )]
    Watch(WatchArgs),
    /// Print shell completions.
    #[command(
        after_help = "Example:\n  haggle completions bash > ~/.local/share/bash-completion/completions/haggle"
    )]
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

/// One of --iban, --bitcoin, --lightning, --cash or --other is required.
#[derive(Debug, Args)]
pub struct PayRequestArgs {
    /// Deal id (prefix of 6+ characters).
    #[arg(value_parser = id_prefix)]
    pub deal: String,
    /// A bank transfer to this IBAN (spaces or dashes between groups allowed; its check digits are
    /// checked).
    #[arg(long, value_name = "IBAN")]
    pub iban: Option<String>,
    /// With --iban: what the buyer writes in the transfer's reference.
    #[arg(long, requires = "iban")]
    pub reference: Option<String>,
    /// A BIP 21 URI (bitcoin:ADDRESS?amount=...), or the bare address.
    #[arg(long, value_name = "URI")]
    pub bitcoin: Option<String>,
    /// A BOLT 11 Lightning invoice.
    #[arg(long, value_name = "INVOICE")]
    pub lightning: Option<String>,
    /// Cash when the thing is handed over.
    #[arg(long)]
    pub cash: bool,
    /// Anything else, in words.
    #[arg(long, value_name = "TEXT")]
    pub other: Option<String>,
}

#[derive(Debug, Args)]
pub struct NodeArgs {
    /// Peer-to-peer listen address (multiaddr); repeat for several. Default: TCP and QUIC on 7400.
    #[arg(long, value_name = "MULTIADDR", value_parser = listen_addr)]
    pub listen: Vec<String>,
    /// A peer to connect to, as a multiaddr ending in /p2p/<PeerId>; repeat for several.
    #[arg(long, value_name = "MULTIADDR", value_parser = bootstrap_addr)]
    pub bootstrap: Vec<String>,
    /// Do not look for peers on the local network (mDNS).
    #[arg(long)]
    pub no_mdns: bool,
    /// Where the local API listens (default 127.0.0.1:7401).
    #[arg(long, value_name = "ADDR", value_parser = api_listen_addr)]
    pub api_listen: Option<std::net::SocketAddr>,
    /// Allow the API on a non-loopback address (it still requires the token).
    #[arg(long)]
    pub api_public: bool,
    /// Do not ask the router for a port mapping (UPnP).
    #[arg(long)]
    pub no_upnp: bool,
    /// Carry other nodes' connections through this one: auto (only while this node is
    /// publicly reachable), on, or off.
    #[arg(long, value_name = "MODE", value_parser = ["auto", "on", "off"])]
    pub relay: Option<String>,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Start from an earlier listing (yours, or any this node holds, in any state: sold out,
    /// retracted, expired): every field it has, except those given here. Pictures come from your
    /// own listings only; an auction's end, a campaign's deadline, a calendar's nights and a
    /// digital good's file are given anew.
    #[arg(long, value_name = "ID", value_parser = id_prefix)]
    pub from: Option<String>,
    /// What sort of listing [default: sell, or with --from the earlier listing's].
    #[arg(long, value_enum, ignore_case = true)]
    pub kind: Option<Choice<ListingKind>>,
    /// Up to 140 characters.
    #[arg(long, value_parser = title, required_unless_present = "from")]
    pub title: Option<String>,
    #[command(flatten)]
    pub fields: ListingFields,
    /// Lifetime, e.g. 30d (default), 2w, 12h; at most 90d. An auction lives until 4 days after
    /// its scheduled end (3 days after the latest its anti-sniping window can move the end)
    /// unless you say otherwise.
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, value_parser = duration)]
    pub expires: Option<Duration>,
    #[command(flatten)]
    pub auction: AuctionArgs,
    #[command(flatten)]
    pub campaign: CampaignArgs,
    /// For --kind digital: the file you sell (stored encrypted on your node; each buyer gets
    /// the key once they have paid, or at once if the price is 0). At most 1 GiB.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// With --file: a sample anyone may fetch before buying (at most 2 MiB).
    #[arg(long, value_name = "FILE")]
    pub preview: Option<PathBuf>,
    /// Publish even if one of your listings still on offer is the same (title, kind,
    /// description, category, price, place and pictures): without it that is refused, so a
    /// command run twice does not publish twice.
    #[arg(long)]
    pub again: bool,
}

/// The campaign settings of `haggle publish --kind crowdfund`.
#[derive(Debug, Args)]
pub struct CampaignArgs {
    /// For --kind crowdfund: the goal, in --currency (the listing's price).
    #[arg(long, value_name = "AMOUNT", conflicts_with = "price", allow_negative_numbers = true, value_parser = amount)]
    pub goal: Option<String>,
    /// For --kind crowdfund: when pledging ends, from now, e.g. 30d (at most 87d).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, value_parser = duration)]
    pub deadline: Option<Duration>,
    /// For --kind crowdfund: a reward, NAME:MIN or NAME:MIN:QUANTITY, e.g. "Mug:30:100";
    /// repeat for several, cheapest first.
    #[arg(long = "tier", value_name = "NAME:MIN[:QTY]", value_parser = tier)]
    pub tiers: Vec<(String, String, Option<u32>)>,
}

/// The auction settings of `haggle publish --kind auction` (the price is the start price).
#[derive(Debug, Args)]
pub struct AuctionArgs {
    /// For --kind auction: when bidding ends, from now, e.g. 3d, 12h (at most 86d).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, value_parser = duration)]
    pub ends: Option<Duration>,
    /// For --kind auction: the lowest price you will sell at (public); below it the high bid is
    /// not accepted by itself.
    #[arg(long, value_name = "AMOUNT", allow_negative_numbers = true, value_parser = amount)]
    pub reserve: Option<String>,
    /// For --kind auction: how much each bid must raise the high bid (default: 1 unit of the
    /// currency, or a twentieth of the start price when that is less).
    #[arg(long, value_name = "AMOUNT", allow_negative_numbers = true, value_parser = amount)]
    pub increment: Option<String>,
    /// For --kind auction: a bid this close to the end moves the end this far past the bid
    /// (default 10m; 0 turns it off; at most 1h; 5m or less can be sniped by backdating).
    #[arg(long, value_name = "DURATION", value_parser = window)]
    pub window: Option<u32>,
}

impl AuctionArgs {
    /// Whether any auction setting was given.
    pub fn any(&self) -> bool {
        self.ends.is_some() || self.reserve.is_some() || self.increment.is_some() || self.window.is_some()
    }
}

#[derive(Debug, Args)]
pub struct BookArgs {
    /// The listing id (any unique prefix of 6+ characters).
    #[arg(value_parser = id_prefix)]
    pub listing: String,
    /// Check-in day, e.g. 2026-12-20 (a service: its first day).
    #[arg(long, value_name = "DATE", value_parser = date)]
    pub from: String,
    /// Check-out day, e.g. 2026-12-27 (a service: the day after its last).
    #[arg(long, value_name = "DATE", value_parser = date)]
    pub to: String,
    /// What you offer for all the nights or days (default: the asking price).
    #[arg(long, allow_negative_numbers = true, value_parser = amount)]
    pub price: Option<String>,
    /// A note to the owner.
    #[arg(long, short, default_value = "", hide_default_value = true, value_parser = note)]
    pub message: String,
    /// How long the request stands, e.g. 3d (default), 12h.
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, value_parser = duration)]
    pub expires: Option<Duration>,
    /// Not for a booking (hidden): taken only to say why, instead of clap's generic refusal.
    #[arg(long, hide = true, allow_hyphen_values = true)]
    pub qty: Option<String>,
    /// Not for a booking (hidden): taken only to say why.
    #[arg(long, hide = true, allow_hyphen_values = true)]
    pub currency: Option<String>,
}

#[derive(Debug, Args)]
pub struct PledgeArgs {
    /// The campaign's listing id (any unique prefix of 6+ characters).
    #[arg(value_parser = id_prefix)]
    pub campaign: String,
    /// How much, in the campaign's currency: 50, 12.50 (a new pledge replaces your last).
    #[arg(long, required_unless_present = "withdraw", conflicts_with = "withdraw", allow_negative_numbers = true, value_parser = amount)]
    pub amount: Option<String>,
    /// Take your pledge back (before the deadline).
    #[arg(long)]
    pub withdraw: bool,
    /// A public note with the pledge.
    #[arg(long, short, default_value = "", hide_default_value = true, value_parser = note)]
    pub message: String,
    /// Pledges are in the campaign's currency (hidden): taken only to say so.
    #[arg(long, hide = true, allow_hyphen_values = true)]
    pub currency: Option<String>,
}

#[derive(Debug, Args)]
pub struct BidArgs {
    /// The auction's listing id (any unique prefix of 6+ characters).
    #[arg(value_parser = id_prefix)]
    pub listing: String,
    /// Your bid, in the auction's currency: 57, 57.50.
    #[arg(long, visible_alias = "amount", allow_negative_numbers = true, value_parser = amount)]
    pub price: String,
    /// A public note with the bid.
    #[arg(long, short, default_value = "", hide_default_value = true, value_parser = note)]
    pub message: String,
    /// Bids are in the auction's currency (hidden): taken only to say so.
    #[arg(long, hide = true, allow_hyphen_values = true)]
    pub currency: Option<String>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Listing id (any unique prefix of 6+ characters).
    #[arg(value_parser = id_prefix)]
    pub id: String,
    /// New title.
    #[arg(long, value_parser = title)]
    pub title: Option<String>,
    #[command(flatten)]
    pub fields: ListingFields,
    /// For a digital good: a new version of the file sold (new buyers get it; those who bought
    /// before keep the version they bought).
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// For a digital good: a new preview (with --file, or alone).
    #[arg(long, value_name = "FILE")]
    pub preview: Option<PathBuf>,
    /// An auction's and a campaign's terms, set at publishing only: taken (hidden from the
    /// help) only to say so, before any work ([`UpdateArgs::fixed_term`]; not as a bad value:
    /// a trial read "invalid value '30' for '--reserve'" as the amount's fault).
    #[arg(long, hide = true)]
    pub goal: Option<String>,
    #[arg(long, hide = true)]
    pub deadline: Option<String>,
    #[arg(long, hide = true)]
    pub tier: Option<String>,
    #[arg(long, hide = true)]
    pub ends: Option<String>,
    #[arg(long, hide = true)]
    pub reserve: Option<String>,
    #[arg(long, hide = true)]
    pub increment: Option<String>,
    #[arg(long, hide = true)]
    pub window: Option<String>,
    /// A listing's lifetime is renew's to change: taken (hidden from the help) only to say so,
    /// with the listing's id (`update` refuses it before any work).
    #[arg(long, hide = true, allow_hyphen_values = true)]
    pub expires: Option<String>,
}

impl UpdateArgs {
    /// The first auction or campaign term given, as its flag: `update` refuses it.
    pub fn fixed_term(&self) -> Option<&'static str> {
        [
            ("--goal", &self.goal),
            ("--deadline", &self.deadline),
            ("--tier", &self.tier),
            ("--ends", &self.ends),
            ("--reserve", &self.reserve),
            ("--increment", &self.increment),
            ("--window", &self.window),
        ]
        .into_iter()
        .find_map(|(flag, given)| given.as_ref().map(|_| flag))
    }
}

/// Why `update` takes no auction or campaign term (`flag`), and what to do instead; the node
/// says the same of a new price on a running auction.
pub fn fixed_at_publishing(flag: &str, id: &str) -> String {
    format!("{flag} cannot change: {}", haggle_protocol::terms_fixed(id))
}

#[derive(Debug, Args)]
pub struct ListingFields {
    /// Price as you would write it: 120, 12.50.
    #[arg(long, allow_negative_numbers = true, value_parser = amount)]
    pub price: Option<String>,
    /// Currency code: EUR, USD, GBP, BTC, ...
    #[arg(long, value_parser = currency)]
    pub currency: Option<Currency>,
    /// Take a --currency code that is not ISO 4217 nor a common one outside it (BTC, USDT...):
    /// a currency of your own, such as a local or community one. Without it such a code is
    /// refused as a likely slip.
    #[arg(long)]
    pub any_currency: bool,
    /// For rentals and services: what the price is charged per (`night` is taken for `day`).
    #[arg(long, value_enum, ignore_case = true)]
    pub per: Option<Choice<Period>>,
    /// How many (default 1). For a service, rental or digital good: the most one deal takes.
    /// On `update` of goods that deals count down: how many are left from now on.
    #[arg(long, allow_negative_numbers = true, value_parser = quantity)]
    pub qty: Option<u32>,
    /// Category path, e.g. vehicles/bikes (needed to publish): lowercase letters a-z (no
    /// accents), digits and hyphens, parts joined by /.
    #[arg(long, value_parser = category)]
    pub category: Option<String>,
    /// A tag; repeat for several. In an update, the tags given replace the old ones.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// With haggle update: remove every tag; with publish --from: copy none.
    #[arg(long, conflicts_with = "tags")]
    pub no_tags: bool,
    /// Where the thing is, in words.
    #[arg(long)]
    pub location: Option<String>,
    /// Where it is on the map, for searches by distance (optional): a geohash in lower case
    /// (e.g. u14dk), or a latitude and longitude (e.g. 51.054,3.717), published as the geohash
    /// of the cell around them, at most 1.2 km by 0.6 km. With haggle update, "" removes it.
    #[arg(long, value_name = "GEOHASH|LAT,LON", value_parser = geohash, allow_hyphen_values = true)]
    pub geohash: Option<String>,
    /// An accepted way to pay; repeat for several. In an update, the ways given replace the old
    /// ones.
    #[arg(long = "pay", value_name = "METHOD")]
    pub payment: Vec<String>,
    /// With haggle update: remove every way to pay; with publish --from: copy none.
    #[arg(long, conflicts_with = "payment")]
    pub no_pay: bool,
    /// Delivery terms, e.g. "pickup only".
    #[arg(long)]
    pub delivery: Option<String>,
    /// Description (up to 8 KiB; publishing a listing over 1 KiB takes longer: its proof of work
    /// doubles with each doubling of its size, about 8 times a short one's at 8 KiB).
    #[arg(long, conflicts_with = "description_file")]
    pub description: Option<String>,
    /// Read the description from a file.
    #[arg(long, value_name = "FILE")]
    pub description_file: Option<PathBuf>,
    /// For a rental or service taking bookings: nights (a service: days) open, check-in..check-out,
    /// e.g. 2026-12-01..2027-04-01; repeat for several ranges.
    #[arg(long = "available", value_name = "FROM..TO", value_parser = date_range)]
    pub available: Vec<String>,
    /// With --available: the shortest stay, in nights (a service's booking: days; default 1).
    #[arg(long, value_name = "NIGHTS", value_parser = nights)]
    pub min_stay: Option<u32>,
    /// With --available: the longest stay, in nights (a service's booking: days; default none).
    #[arg(long, value_name = "NIGHTS", value_parser = nights)]
    pub max_stay: Option<u32>,
    /// With --available: your node accepts, by itself, a request that fits the calendar and
    /// offers at least the asking price.
    #[arg(long, conflicts_with = "no_instant")]
    pub instant: bool,
    /// For haggle update, and publish --from a listing that booked instantly: stop instant
    /// booking (requests wait for you).
    #[arg(long)]
    pub no_instant: bool,
    /// A picture (JPEG, PNG, WebP or GIF, at most 2 MiB); repeat for up to 8. In an update,
    /// the pictures given replace the old ones.
    #[arg(long = "image", value_name = "FILE")]
    pub images: Vec<PathBuf>,
    /// Keep the pictures' metadata (EXIF: camera, time, and often the GPS position where they
    /// were taken). By default it is removed before anything is stored or sent.
    #[arg(long, requires = "images")]
    pub keep_location: bool,
    /// With haggle update: remove every picture; with publish --from: copy none.
    #[arg(long, conflicts_with = "images")]
    pub no_images: bool,
}

/// What a search or a watch matches.
#[derive(Debug, Args, Clone)]
pub struct SearchFilters {
    /// Words to search for.
    pub text: Vec<String>,
    /// Only this kind of listing.
    #[arg(long, value_enum, ignore_case = true)]
    pub kind: Option<Choice<ListingKind>>,
    /// Category path or prefix, e.g. vehicles.
    #[arg(long, value_parser = category)]
    pub category: Option<String>,
    /// Lowest price, e.g. 50 (needs --currency).
    #[arg(long, allow_negative_numbers = true, value_parser = search_amount)]
    pub min_price: Option<String>,
    /// Highest price, e.g. 200 (needs --currency, except 0: what is free).
    #[arg(long, allow_negative_numbers = true, value_parser = search_amount)]
    pub max_price: Option<String>,
    /// Only prices in this currency.
    #[arg(long, value_parser = currency)]
    pub currency: Option<Currency>,
    /// Seller's PeerId (12D3KooW...), their key as 64 hex characters, or a name you gave them
    /// (haggle name).
    #[arg(long = "seller", value_name = "SELLER", value_parser = seller)]
    pub seller_given: Option<String>,
    /// The seller's key: `--seller` as given, or the key of the name given (set by
    /// [`SearchFilters::resolve_seller`] before the search is made).
    #[arg(skip)]
    pub seller: Option<PublicKey>,
    /// Words that must appear in the location.
    #[arg(long)]
    pub near: Option<String>,
    /// Only listings placed within --within of this place, with the distance of each: a
    /// latitude and longitude (e.g. 51.054,3.717) or a geohash in lower case (e.g. u14dk).
    #[arg(long, value_name = "LAT,LON|GEOHASH", value_parser = place, allow_hyphen_values = true)]
    pub around: Option<String>,
    /// How far from --around: e.g. 10km, 800m or 5mi (a number alone is kilometres) [default: 25km].
    #[arg(long, value_name = "DISTANCE", value_parser = distance, requires = "around", allow_hyphen_values = true)]
    pub within: Option<String>,
    /// Only sellers with at least N good deals that count: positive ratings, each weighted by
    /// the rater's standing shared among everyone it rated (with --trusted, positive ratings by
    /// raters in your web of trust).
    #[arg(long, value_name = "N", value_parser = min_deals, allow_negative_numbers = true)]
    pub min_deals: Option<u32>,
    /// Only sellers your web of trust vouches for: you, keys you trust, or sellers rated
    /// positive by people you traded with or people they vouch for.
    #[arg(long)]
    pub trusted: bool,
    /// Only rentals and services free for these nights, check-in..check-out, e.g.
    /// 2026-12-20..2026-12-27 (within their stay limits).
    #[arg(long, value_name = "FROM..TO", value_parser = date_range)]
    pub free: Option<String>,
}

impl SearchFilters {
    /// Refuses `--within 5 km`: the unit, apart from its number, is read as a word to search
    /// for, and nothing says "km" (a trial's search found nothing, and exited 0).
    pub fn check_within(&self) -> anyhow::Result<()> {
        let Some(within) = self.within.as_deref() else { return Ok(()) };
        let bare = !within.is_empty() && within.trim().bytes().all(|b| b.is_ascii_digit() || b == b'.');
        let words = self.text.iter().flat_map(|t| t.split_whitespace());
        let units = ["km", "m", "mi", "mile", "miles"];
        if let Some(unit) = words.clone().find(|w| units.contains(&w.to_ascii_lowercase().as_str()))
            && bare
        {
            let unit = unit.to_ascii_lowercase();
            return Err(crate::usage(format!(
                "--within {within} {unit}: write the distance without a space, --within {within}{unit} (`{unit}` was read as a word to search for)"
            )));
        }
        Ok(())
    }

    /// Sets [`Self::seller`] from `--seller`: a key as it is, a name by the owner's names (`names`
    /// reads them from the node, only when a name was given).
    pub fn resolve_seller<E>(
        &mut self,
        names: impl FnOnce() -> Result<Vec<(PublicKey, String)>, E>,
    ) -> anyhow::Result<()>
    where
        anyhow::Error: From<E>,
    {
        let Some(given) = self.seller_given.as_deref() else { return Ok(()) };
        if let Ok(key) = given.parse::<PublicKey>() {
            self.seller = Some(key);
            return Ok(());
        }
        // As the node takes a name: its inner spaces one each, compared in lower case.
        let wanted = haggle_node::service::check_name(given).map_err(|e| crate::usage(e.to_string()))?;
        let named = names()?.into_iter().find(|(_, name)| haggle_node::service::same_name(name, &wanted));
        match named {
            Some((key, _)) => {
                self.seller = Some(key);
                Ok(())
            }
            None => Err(crate::not_found(format!(
                "--seller {given:?} is neither a key (a PeerId such as 12D3KooW...) nor a name you gave one (haggle names lists them; haggle name ID NAME gives one)"
            ))),
        }
    }

    /// The API's search parameters, in the node's default order and page.
    pub fn params(&self) -> SearchParams {
        SearchParams {
            q: self.text.join(" "),
            kind: self.kind.map(|k| k.0),
            // Categories are lowercase paths: a search forgives the case.
            category: self.category.as_ref().map(|c| c.to_lowercase()),
            min_price: self.min_price.clone(),
            max_price: self.max_price.clone(),
            currency: self.currency.clone(),
            seller: self.seller,
            near: self.near.clone(),
            around: self.around.clone(),
            within: self.within.clone(),
            sort: None,
            limit: None,
            offset: None,
            min_deals: self.min_deals,
            trusted: self.trusted,
            free: self.free.clone(),
            listing: None,
        }
    }
}

/// `watch`: the filters of a search. Order and paging mean nothing for events shown as they
/// come; their flags are taken (hidden from the help) only to refuse them, before any work.
#[derive(Debug, Args, Clone)]
pub struct WatchArgs {
    #[command(flatten)]
    pub filters: SearchFilters,
    /// Follow the listings of a saved search (haggle saved lists them) instead of words and
    /// filters given here.
    #[arg(long, value_name = "NAME", value_parser = saved_name)]
    pub saved: Option<String>,
    #[arg(long, hide = true, value_parser = search_only)]
    pub sort: Option<String>,
    #[arg(long, hide = true, value_parser = search_only)]
    pub limit: Option<String>,
    #[arg(long, hide = true, value_parser = search_only)]
    pub offset: Option<String>,
    /// Refused in `watch` (see [`SEARCH_ONLY`]): a flag without a value, so the refusal does
    /// not read as a bad value of one (a trial's `invalid value ''`).
    #[arg(long, hide = true)]
    pub ending_soon: bool,
}

/// Why `watch` refuses a flag of `search`.
pub const SEARCH_ONLY: &str =
    "this is for haggle search: watch shows each event as it comes, and takes the search's filters only";

/// Refuses a flag of `search` given to `watch`.
fn search_only(_: &str) -> Result<String, String> {
    Err(SEARCH_ONLY.into())
}

/// Which threads or deals `offers` and `deals` list, and a page of them.
#[derive(Debug, Args, Clone)]
pub struct InboxArgs {
    /// Only those waiting on you (NEXT you): offers to answer, deal steps that are yours.
    #[arg(long)]
    pub todo: bool,
    /// Only those not over: threads still open, deals neither completed nor cancelled.
    #[arg(long)]
    pub open: bool,
    /// How many to list (default all).
    #[arg(long, allow_negative_numbers = true, value_parser = page_limit)]
    pub limit: Option<u16>,
    /// How many to skip, most recent first.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_parser = page_offset)]
    pub offset: usize,
}

impl InboxArgs {
    /// The API's parameters.
    pub fn params(&self) -> haggle_node::api::types::InboxParams {
        haggle_node::api::types::InboxParams {
            todo: self.todo,
            open: self.open,
            limit: self.limit.map(usize::from),
            offset: self.offset,
        }
    }
}

/// A search: its filters, and the order and page of the results.
#[derive(Debug, Args, Clone)]
pub struct SearchArgs {
    #[command(flatten)]
    pub filters: SearchFilters,
    /// Order of results (default relevance, or distance for --around with no words; price and
    /// price-desc need --currency).
    #[arg(long, value_enum, ignore_case = true)]
    pub sort: Option<Choice<Sort>>,
    /// Results per page.
    #[arg(long, default_value_t = 20, allow_negative_numbers = true, value_parser = page_limit)]
    pub limit: u16,
    /// Results to skip.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_parser = page_offset)]
    pub offset: usize,
    /// Running auctions, soonest to end first (the same as --kind auction --sort ending-soon).
    /// With another --kind or --sort the search says why they do not go together.
    // Said by the search, not by clap: a parser's "cannot be used with" did not say why.
    #[arg(long)]
    pub ending_soon: bool,
    /// Save the search (its words and filters) under this name: `haggle saved NAME` then shows
    /// what is new or repriced since you last looked.
    #[arg(long, value_name = "NAME", allow_hyphen_values = true, value_parser = saved_name)]
    pub save: Option<String>,
}

impl SearchArgs {
    /// The API's search parameters.
    pub fn params(&self) -> SearchParams {
        let filters = self.filters.params();
        SearchParams {
            // Another kind is left for the node to refuse, in its words.
            kind: if self.ending_soon { filters.kind.or(Some(ListingKind::Auction)) } else { filters.kind },
            sort: if self.ending_soon { Some(Sort::EndingSoon) } else { self.sort.map(|s| s.0) },
            limit: Some(usize::from(self.limit)),
            offset: Some(self.offset),
            ..filters
        }
    }
}

/// `haggle listings`: which of the owner's listings, and which page of them.
#[derive(Debug, Args)]
pub struct ListingsArgs {
    /// Only listings of this kind.
    #[arg(long, value_enum, ignore_case = true)]
    pub kind: Option<Choice<ListingKind>>,
    /// Only listings in this state: active (on offer), ended (an auction or campaign past its
    /// end, not closed yet), expired, or closed (retracted, sold out, given away or found;
    /// `sold` is taken for it).
    #[arg(long, value_enum, ignore_case = true)]
    pub state: Option<Choice<ListingsState>>,
    /// Only listings in this category or under it, e.g. music.
    #[arg(long, value_parser = category)]
    pub category: Option<String>,
    /// Listings per page (default: all).
    #[arg(long, allow_negative_numbers = true, value_parser = page_limit)]
    pub limit: Option<u16>,
    /// Listings to skip.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_parser = page_offset)]
    pub offset: usize,
}

#[derive(Debug, Args)]
pub struct OfferArgs {
    /// Listing id (any unique prefix of 6+ characters).
    #[arg(value_parser = id_prefix)]
    pub listing: String,
    #[command(flatten)]
    pub terms: TermsArgs,
}

#[derive(Debug, Args)]
pub struct CounterArgs {
    /// Thread id (prefix of 6+ characters).
    #[arg(value_parser = id_prefix)]
    pub thread: String,
    #[command(flatten)]
    pub terms: TermsArgs,
    /// Counter an offer made on an earlier revision of your listing, changed since: your
    /// counter, like the offer, stands on the revision offered on.
    #[arg(long)]
    pub as_offered: bool,
}

#[derive(Debug, Args)]
pub struct TermsArgs {
    /// Price for the whole quantity: 100, 99.50. Needed, except on a giveaway (none), a
    /// digital good bought at its price, and a booking's nights (their asking price).
    #[arg(long, allow_negative_numbers = true, value_parser = amount)]
    pub price: Option<String>,
    /// Currency (default: the listing's; a counter names it when the terms on the table are in
    /// another).
    #[arg(long, value_parser = currency)]
    pub currency: Option<Currency>,
    /// How many (default 1, or the current terms' for a counter, which names its --price too).
    #[arg(long, allow_negative_numbers = true, value_parser = terms_quantity)]
    pub qty: Option<u32>,
    /// A note to the other party.
    #[arg(long, short, default_value = "", hide_default_value = true, value_parser = note)]
    pub message: String,
    /// How long the proposal stands, e.g. 3d (default), 12h.
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, value_parser = duration)]
    pub expires: Option<Duration>,
    /// For a booking: check-in day, e.g. 2026-12-20 (with --to).
    #[arg(long, value_name = "DATE", value_parser = date)]
    pub from: Option<String>,
    /// For a booking: check-out day, e.g. 2026-12-27 (with --from).
    #[arg(long, value_name = "DATE", value_parser = date)]
    pub to: Option<String>,
}

impl TermsArgs {
    /// The API's terms; other nights need both `--from` and `--to`, in that order.
    pub fn draft(&self) -> anyhow::Result<TermsDraft> {
        let dates = match (&self.from, &self.to) {
            (Some(from), Some(to)) if to > from => Some(format!("{from}..{to}")),
            (Some(from), Some(to)) => {
                // With what each date means, as `book` says it (from a trial's counter).
                return Err(crate::usage(format!(
                    "check-out ({to}) must come after check-in ({from}): --from is the first night (a service's first day), --to the day you leave (the day after a service's last)"
                )));
            }
            (None, None) => None,
            _ => {
                return Err(crate::usage(
                    "dates come in pairs: give both --from (check-in) and --to (check-out), or neither",
                ));
            }
        };
        Ok(TermsDraft {
            price: self.price.clone(),
            currency: self.currency.clone(),
            quantity: self.qty,
            message: self.message.clone(),
            expires_in: self.expires.map(|d| d.as_secs()),
            dates,
        })
    }
}

/// One of an enum's values on the command line, by its lowercase name (the same names the API
/// and the protocol use), so the command needs no copy of the enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice<T: 'static>(pub T);

/// An enum whose values the command offers by name.
pub trait Named: Copy + Send + Sync + 'static {
    /// Every value, in the order help lists them.
    const CHOICES: &'static [Choice<Self>];
    /// The value's name.
    fn name(self) -> &'static str;
    /// Other words taken for it (not listed in help).
    fn aliases(self) -> &'static [&'static str] {
        &[]
    }
}

/// Wraps every value of an enum's `ALL` list.
const fn choices<T: Copy, const N: usize>(all: [T; N]) -> [Choice<T>; N] {
    let mut out = [Choice(all[0]); N];
    let mut i = 1;
    while i < N {
        out[i] = Choice(all[i]);
        i += 1;
    }
    out
}

impl Named for ListingKind {
    const CHOICES: &'static [Choice<Self>] = &choices(ListingKind::ALL);
    fn name(self) -> &'static str {
        self.as_str()
    }
}

impl Named for Period {
    const CHOICES: &'static [Choice<Self>] = &choices(Period::ALL);
    fn name(self) -> &'static str {
        self.as_str()
    }
    /// A rental is booked by the night, and a day's price is a night's.
    fn aliases(self) -> &'static [&'static str] {
        if self == Period::Day { &["night"] } else { &[] }
    }
}

impl Named for Rating {
    const CHOICES: &'static [Choice<Self>] = &choices(Rating::ALL);
    fn name(self) -> &'static str {
        Rating::name(self)
    }
}

impl Named for ListingsState {
    const CHOICES: &'static [Choice<Self>] = &choices(ListingsState::ALL);
    fn name(self) -> &'static str {
        self.as_str()
    }
    /// The words people use for each state: what ended a listing is its closing.
    fn aliases(self) -> &'static [&'static str] {
        match self {
            ListingsState::Active => &["open", "live"],
            ListingsState::Closed => &["sold", "sold-out", "retracted", "given", "given-away", "found"],
            ListingsState::Ended | ListingsState::Expired => &[],
        }
    }
}

impl Named for Sort {
    const CHOICES: &'static [Choice<Self>] = &choices(Sort::ALL);
    fn name(self) -> &'static str {
        self.as_str()
    }
    /// The words people use for each order.
    fn aliases(self) -> &'static [&'static str] {
        match self {
            Sort::PriceAsc => &["cheapest", "price-asc", "lowest-price"],
            Sort::PriceDesc => &["dearest", "most-expensive", "highest-price"],
            Sort::Newest => &["latest", "recent", "new"],
            Sort::Distance => &["nearest", "closest"],
            Sort::EndingSoon => &["ending"],
            Sort::Relevance | Sort::Reputation => &[],
        }
    }
}

impl<T: Named> ValueEnum for Choice<T> {
    fn value_variants<'a>() -> &'a [Self] {
        T::CHOICES
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.0.name()).aliases(self.0.aliases().iter().copied()))
    }
}

/// The largest lifetime the command accepts before the node's own limits apply: far beyond any
/// protocol limit (90 days), small enough that seconds never overflow.
const MAX_DURATION_SECS: u64 = 100 * 365 * 86_400;

/// `search --limit`: results per page, 1 to 500.
fn page_limit(text: &str) -> Result<u16, String> {
    match text.trim().parse::<u64>() {
        Ok(n @ 1..=500) => Ok(n as u16),
        // A number out of range is told as one (a trial read "is not a number" of `1000`).
        Ok(0) => {
            Err("0 results per page shows nothing: give a whole number from 1 to 500, e.g. 50".to_owned())
        }
        Ok(_) => {
            Err(format!("`{text}` is more than a page holds: give a whole number from 1 to 500, e.g. 50"))
        }
        Err(_) => Err(format!(
            "`{text}` is not a number of results per page: give a whole number from 1 to 500, e.g. 50"
        )),
    }
}

/// `search --offset`: results to skip, 0 or more.
fn page_offset(text: &str) -> Result<usize, String> {
    text.trim().parse().map_err(|_| {
        format!(
            "`{text}` is not a number of results to skip: give a whole number, 0 or more (--offset 20 --limit 20 shows results 21-40)"
        )
    })
}

/// `--min-deals`: a whole number, 0 or more.
/// `--around`: a place, checked (the node reads it again).
fn place(text: &str) -> Result<String, String> {
    haggle_protocol::geo::place(text).map(|_| text.trim().to_owned()).map_err(|e| e.to_string())
}

/// `--within`: a distance, checked (the node reads it again).
fn distance(text: &str) -> Result<String, String> {
    haggle_protocol::geo::distance(text).map(|_| text.trim().to_owned()).map_err(|e| e.to_string())
}

/// `--geohash`: a geohash, or coordinates (which the node publishes as the geohash around
/// them), checked before any work and kept as typed, so that the command can say how it read
/// coordinates; empty (in an update) removes it.
fn geohash(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Ok(String::new());
    }
    haggle_protocol::geo::listing_geohash(text).map(|_| text.trim().to_owned()).map_err(|e| e.to_string())
}

fn min_deals(text: &str) -> Result<u32, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of deals: write a whole number, 0 or more, e.g. 3"))
}

/// `--tier NAME:MIN[:QTY]`.
fn tier(text: &str) -> Result<(String, String, Option<u32>), String> {
    let bad = || format!("`{text}` is not a tier: write NAME:MIN or NAME:MIN:QUANTITY, e.g. \"Mug:30:100\"");
    let mut parts = text.rsplitn(3, ':').collect::<Vec<_>>();
    parts.reverse();
    // NAME:MIN:QTY, or NAME:MIN (a name may itself hold colons only in the three-part form).
    let (name, min, qty) = match parts.as_slice() {
        [name, min, qty] if qty.parse::<u32>().is_ok() => {
            (*name, *min, Some(qty.parse::<u32>().map_err(|_| bad())?))
        }
        [a, b, min] => (&text[..a.len() + 1 + b.len()], *min, None),
        [name, min] => (*name, *min, None),
        _ => return Err(bad()),
    };
    if qty == Some(0) {
        return Err(format!(
            "`{text}`: a tier's quantity is 1 or more (leave it out for no limit), e.g. \"Mug:30:100\""
        ));
    }
    if name.trim().is_empty() || min.trim().is_empty() {
        return Err(bad());
    }
    let min = amount(min.trim()).map_err(|e| format!("{e} (the tier's smallest pledge, NAME:MIN)"))?;
    Ok((name.trim().to_owned(), min, qty))
}

/// `FROM..TO`: nights from check-in up to check-out.
fn date_range(text: &str) -> Result<String, String> {
    text.parse::<haggle_protocol::DateRange>().map(|r| r.to_string()).map_err(|e| e.to_string())
}

/// `YYYY-MM-DD`, with a word on the usual slips: a range where one day goes, a date written
/// day (or month) first, slashes.
fn date(text: &str) -> Result<String, String> {
    haggle_protocol::calendar::parse_date(text).map(|d| haggle_protocol::calendar::Date(d).to_string()).map_err(
        |e| {
            let t = text.trim();
            if t.contains("..") {
                return format!(
                    "`{t}` is a range, and this takes one day: --from is the check-in day and --to the check-out day, e.g. --from 2026-12-20 --to 2026-12-27"
                );
            }
            // 20-12-2026, 12/20/2026, 20.12.2026: three numbers, the year last; 2026/12/20, the
            // year first with another separator.
            let parts: Vec<&str> = t.split(['-', '/', '.']).collect();
            let digits = |p: &&str| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit());
            if let [year, m, d] = parts[..]
                && year.len() == 4
                && [year, m, d].iter().all(digits)
                && m.len() <= 2
                && d.len() <= 2
                && !(t.contains('-') && m.len() == 2 && d.len() == 2)
            {
                let how = if t.contains('-') { "two digits each" } else { "dashes" };
                return format!("`{t}` is not a date as haggle reads it: write it with {how}, {year}-{m:0>2}-{d:0>2}");
            }
            if let [a, b, year] = parts[..]
                && year.len() == 4
                && [a, b, year].iter().all(digits)
            {
                let (a, b) = (a.parse::<u32>().unwrap_or(0), b.parse::<u32>().unwrap_or(0));
                // Which is the day reads plainly only when one of the two is over 12 (and a day).
                let meant = match (a, b) {
                    (13..=31, 1..=12) => format!(" ({year}-{b:02}-{a:02}?)"),
                    (1..=12, 13..=31) => format!(" ({year}-{a:02}-{b:02}?)"),
                    _ => String::new(),
                };
                return format!("`{t}` is not a date as haggle reads it: write it year first, YYYY-MM-DD{meant}");
            }
            format!("`{}` is not {}: write e.g. 2026-12-20 (YYYY-MM-DD)", e.0, e.1)
        },
    )
}

/// A number of nights, 1 or more (`3`, or `3d`).
fn nights(text: &str) -> Result<u32, String> {
    let digits = text.trim().trim_end_matches(['d', 'n']);
    match digits.parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("`{text}` is not a number of nights: write e.g. 2")),
    }
}

/// `--window`: a duration up to an hour, or 0 / off (`0s`, `0m` too: no window).
fn window(text: &str) -> Result<u32, String> {
    let zero = text.trim().strip_suffix(['s', 'm', 'h']).unwrap_or(text.trim());
    if text.trim() == "off" || (!zero.is_empty() && zero.bytes().all(|b| b == b'0')) {
        return Ok(0);
    }
    let d = duration(text)?;
    if d > Duration::from_secs(3_600) {
        return Err(format!("`{text}` is too long an anti-sniping window: at most 1h"));
    }
    Ok(d.as_secs() as u32)
}

/// `--listen`: a multiaddr, checked before the node starts.
fn listen_addr(text: &str) -> Result<String, String> {
    haggle_node::config::listen_addr(text.trim()).map(|_| text.trim().to_owned()).map_err(|e| e.to_string())
}

/// `--bootstrap`: a multiaddr ending in the peer's id, as the other node printed it.
fn bootstrap_addr(text: &str) -> Result<String, String> {
    haggle_node::config::bootstrap_peer(text.trim())
        .map(|_| text.trim().to_owned())
        .map_err(|e| e.to_string())
}

/// `--api-listen`: an IP address and port.
fn api_listen_addr(text: &str) -> Result<std::net::SocketAddr, String> {
    text.trim().parse().map_err(|_| {
        format!("`{text}` is not an IP address and port (0 to 65535): e.g. 127.0.0.1:7401, or 127.0.0.1:0 for any free port")
    })
}

/// `--api`: the node API's address, `http://HOST:PORT` or `HOST:PORT`; returned as a URL.
fn api_url(text: &str) -> Result<String, String> {
    let trimmed = text.trim().trim_end_matches('/');
    let address = match trimmed.strip_prefix("http://") {
        Some(rest) => rest,
        None if trimmed.contains("://") => {
            return Err(format!("`{text}`: a node's API speaks plain http, e.g. http://127.0.0.1:7401"));
        }
        None => trimmed,
    };
    let port =
        address.rsplit_once(':').filter(|(host, _)| !host.is_empty()).map(|(_, port)| port.parse::<u16>());
    match port {
        Some(Ok(p)) if p != 0 => Ok(format!("http://{address}")),
        _ => Err(format!("`{text}` is not a node API address: write HOST:PORT, e.g. 127.0.0.1:7401")),
    }
}

/// A key or listing for `haggle reputation`: not empty.
fn identity(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        Err("say whose reputation: a PeerId (haggle id prints yours), a name you gave, or a listing's, thread's or deal's id".to_owned())
    } else {
        Ok(text.trim().to_owned())
    }
}

fn saved_name(text: &str) -> Result<String, String> {
    haggle_node::service::check_saved_name(text).map_err(|e| e.to_string())
}

fn block_note(text: &str) -> Result<String, String> {
    haggle_node::service::check_block_note(text).map(str::to_owned).map_err(|e| e.to_string())
}

fn person_name(text: &str) -> Result<String, String> {
    haggle_node::service::check_name(text).map_err(|e| e.to_string())
}

fn blockee(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        Err("say whom: a PeerId, or the id of their listing, a thread with them or a deal with them"
            .to_owned())
    } else {
        Ok(text.trim().to_owned())
    }
}

/// `30d`, `2w`, `12h`, `90m` or `45s`. A bare number is refused: `--expires 30` meant 30 days
/// to one user and 30 seconds to the parser.
pub fn duration(text: &str) -> Result<Duration, String> {
    // Full-width digits and letters are the ASCII ones (from international trials: `３d`, then
    // `３６ｈ` as a Japanese input method types it).
    let folded = if text.is_ascii() {
        std::borrow::Cow::Borrowed(text)
    } else {
        use unicode_normalization::UnicodeNormalization;
        std::borrow::Cow::Owned(text.nfkc().collect::<String>())
    };
    let text = folded.trim();
    let bad = || format!("`{text}` is not a duration: write e.g. 30d, 2w, 12h or 90m");
    // A date where a time from now belongs: say how far off it is.
    if let Ok(day) = haggle_protocol::calendar::parse_date(text) {
        let today = haggle_protocol::calendar::day_of(haggle_protocol::Timestamp::now());
        let longest = haggle_protocol::limits::MAX_LIFETIME.as_secs() / 86_400;
        return Err(match day.checked_sub(today) {
            Some(days) if u64::from(days) > longest => format!(
                "`{text}` is a date, {days} days from now: this takes a time from now, and nothing published lasts more than {longest} days (a campaign's deadline at most 87), e.g. 30d"
            ),
            // The time of day in UTC, as the date is counted (from an international trial: in
            // Tokyo's morning, "on 2026-12-08 (at this time of day)" was a day off).
            Some(days) if days > 0 => {
                let secs = haggle_protocol::Timestamp::now().as_millis() / 1000 % 86_400;
                format!(
                    "`{text}` is a date: this takes a time from now, e.g. {days}d to end on {text} at {:02}:{:02} UTC",
                    secs / 3600,
                    secs / 60 % 60
                )
            }
            _ => format!("`{text}` is a date, today or in the past: this takes a time from now, e.g. 30d"),
        });
    }
    // Durations take values that start with a hyphen, so a negative one reaches this check;
    // so does the next flag when the value was left out.
    if let Some(rest) = text.strip_prefix('-') {
        if !rest.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!("a duration is missing before `{text}`: write e.g. 30d, 2w, 12h or 90m"));
        }
        return Err(match duration(rest) {
            Ok(_) => format!("`{text}` is in the past: a duration counts from now, e.g. {rest}"),
            Err(_) => format!("`{text}` is in the past: a duration counts from now, e.g. 30d"),
        });
    }
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let unit_secs: u64 = match unit {
        "" if n > 0 => return Err(format!("`{text}` needs a unit: {n}d (days), {n}w, {n}h, {n}m or {n}s")),
        "" => return Err(bad()),
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    match n.checked_mul(unit_secs) {
        Some(0) => {
            Err(format!("`{text}` is no time at all: a duration is at least 1s, e.g. 30d, 2w, 12h or 90m"))
        }
        Some(secs) if secs <= MAX_DURATION_SECS => Ok(Duration::from_secs(secs)),
        _ => Err(format!(
            "`{text}` is too long a time: listings, offers and counter-offers live at most 90 days (90d)"
        )),
    }
}

/// An id or a unique prefix of one (6+ hex characters), checked before the node is asked.
fn id_prefix(text: &str) -> Result<String, String> {
    text.parse::<haggle_protocol::IdPrefix>().map(|_| text.to_owned()).map_err(|e| {
        // A PeerId where an object id belongs: say what it is and where it goes.
        if text.parse::<PublicKey>().is_ok() {
            format!("`{text}` is a person's key (a PeerId), not the id of a listing, offer or deal: see haggle reputation {text}, or haggle search --seller {text}")
        } else if !text.trim().bytes().all(|b| b.is_ascii_hexdigit())
            && haggle_node::service::check_name(text).is_ok()
        {
            // A word where an id belongs may be a name the owner gave (a trial's `show Carol`).
            format!(
                "{e}: ids are hex (haggle listings, offers and deals list them); for a person you named, haggle reputation {}",
                text.trim()
            )
        } else {
            e.to_string()
        }
    })
}

/// A quantity of terms (an offer, counter or booking): [`quantity`], without the listing
/// owner's advice (a trial's buyer, told to retract a listing it did not have).
fn terms_quantity(text: &str) -> Result<u32, String> {
    let max = haggle_protocol::limits::MAX_QUANTITY;
    match quantity(text) {
        Err(_) if text.trim().parse::<u64>() == Ok(0) => Err(format!("a quantity is 1 to {max}")),
        other => other,
    }
}

/// A quantity within the protocol's limits.
fn quantity(text: &str) -> Result<u32, String> {
    let max = haggle_protocol::limits::MAX_QUANTITY;
    match text.trim().parse::<u64>() {
        Ok(n) if (1..=u64::from(max)).contains(&n) => Ok(n as u32),
        // From a trial: `update --qty 0` to take the last off sale.
        Ok(0) => Err(format!(
            "a quantity is 1 to {max}; to take a listing of yours off sale, retract it (haggle retract ID)"
        )),
        Ok(_) => Err(format!("a quantity is 1 to {max}")),
        Err(_) => Err(format!("`{text}` is not a quantity: write a whole number from 1 to {max}")),
    }
}

/// A search's price bound: [`amount`], whose currency is only ever --currency's.
fn search_amount(text: &str) -> Result<String, String> {
    amount_in(text, "--currency's")
}

/// An amount's shape (digits, an optional decimal point), checked before the node is asked; how
/// many decimals it may have depends on the currency, which the node checks.
fn amount(text: &str) -> Result<String, String> {
    amount_in(text, "--currency's, or the listing's for an offer, bid or pledge")
}

/// [`amount`], saying whose the currency is (`currency`) when one is written in it. Digits of
/// other scripts (full-width, as a Japanese keyboard types them; Arabic-Indic; Devanagari) are
/// the same digits (from an international trial, they were "not an amount").
fn amount_in(text: &str, currency: &str) -> Result<String, String> {
    let digits = haggle_protocol::price::ascii_digits(text);
    let text: &str = &digits;
    let shaped = |s: &str| {
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        !(whole.is_empty() && frac.is_empty()) && digits(whole) && digits(frac)
    };
    let trimmed = text.trim();
    match trimmed.strip_prefix('-') {
        Some(rest) if shaped(rest) => Err(format!("an amount cannot be negative: write {rest}")),
        Some(_) => Err(format!(
            "`{text}` is not an amount: an amount cannot be negative; write digits with an optional decimal point, e.g. 120 or 12.50"
        )),
        None if shaped(trimmed) => Ok(trimmed.to_owned()),
        // `20 USD`, `EUR20`, `€ 12`, `12€`: the currency goes apart (--currency), or is the
        // listing's.
        None if shaped(without_currency(trimmed)) && without_currency(trimmed) != trimmed => Err(format!(
            "`{text}` is not an amount: write the number alone, {}; the currency is {currency}",
            without_currency(trimmed)
        )),
        // `12,50` (or `12,50 EUR`): a decimal comma.
        None if without_currency(trimmed).split_once(',').is_some_and(|(whole, cents)| {
            shaped(whole)
                && !whole.contains('.')
                && (1..=2).contains(&cents.len())
                && shaped(cents)
                && !cents.contains('.')
        }) =>
        {
            Err(format!(
                "`{text}` is not an amount: write the decimal point as a dot, {}",
                without_currency(trimmed).replace(',', ".")
            ))
        }
        // `1250.-`, whole francs as the Swiss write them (from an international trial).
        None if let Some(whole) = [".-", ",-", ".\u{2013}", ",\u{2013}"]
            .iter()
            .find_map(|dash| without_currency(trimmed).strip_suffix(dash))
            .and_then(|whole| match plainly(whole) {
                // `1'250.-`, with a thousands separator too (from the retrial).
                Some((plain, None)) => Some(plain),
                _ => (shaped(whole) && !whole.contains('.')).then(|| whole.to_owned()),
            }) =>
        {
            Err(format!("`{text}` is not an amount: write whole amounts as digits alone, {whole}"))
        }
        // `2,500` is 2500 written plainly, and so are `15 000` (with a space or a no-break space,
        // as French and others write it; from an international trial), Swiss `1'250.50`, German
        // `1.250,50` and English `1,250.50` (from a later one: they were told 1200).
        None if let Some((whole, cents)) = plainly(without_currency(trimmed)) => Err(match cents {
            Some(cents) => format!(
                "`{text}` is not an amount: write the decimal point as a dot and no thousands separators, {whole}.{cents}"
            ),
            None => format!(
                "`{text}` is not an amount: write digits and no thousands separators, {whole} (a decimal point is written as a dot)"
            ),
        }),
        None if trimmed.contains(THOUSANDS) => {
            // Anything else with a separator gets an example.
            let bare = without_currency(trimmed);
            let plain: String = bare.chars().filter(|c| !THOUSANDS.contains(c)).collect();
            let example = if !plain.is_empty() && plain.bytes().all(|b| b.is_ascii_digit()) {
                plain
            } else {
                "1200".into()
            };
            Err(format!(
                "`{text}` is not an amount: write digits and no thousands separators, e.g. {example} (a decimal point is written as a dot)"
            ))
        }
        None => Err(haggle_protocol::AmountError::NotANumber(text.to_owned()).to_string()),
    }
}

/// A category path: lowercase words of a-z, digits and hyphens between slashes (any case is
/// taken, and lowered by the node). Letters with accents are told the path in a-z (from an
/// international trial: `fahrzeuge/fahrräder` was refused with no word of `fahrraeder`), and
/// words of other scripts are sent to tags and the search's words, which take any script.
fn category(text: &str) -> Result<String, String> {
    use unicode_normalization::UnicodeNormalization;
    use unicode_normalization::char::is_combining_mark;
    let given = text.trim();
    let path = given.to_lowercase();
    if haggle_protocol::limits::is_category_path(path.trim_matches('/')) {
        return Ok(given.to_owned());
    }
    let mut latin = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            'ä' => latin.push_str("ae"),
            'ö' => latin.push_str("oe"),
            'ü' => latin.push_str("ue"),
            'ß' => latin.push_str("ss"),
            'æ' => latin.push_str("ae"),
            'ø' => latin.push('o'),
            ' ' | '_' => latin.push('-'),
            c => latin.extend(c.to_string().nfd().filter(|c| !is_combining_mark(*c))),
        }
    }
    let rule = "a category is lowercase letters a-z (no accents), digits and hyphens, parts joined by /";
    if haggle_protocol::limits::is_category_path(latin.trim_matches('/')) {
        Err(format!("`{given}`: {rule}; write {latin}"))
    } else {
        Err(format!(
            "`{given}`: {rule}, e.g. vehicles/bikes or home/decor. Words in any script go in --tag, the title and the description, which search finds"
        ))
    }
}

/// Characters people put between thousands: a comma, a space (plain, no-break, narrow or thin)
/// and an apostrophe.
const THOUSANDS: [char; 7] = [',', ' ', '\u{a0}', '\u{202f}', '\u{2009}', '\'', '’'];

/// An amount written with thousands separators, read plainly: its whole part without them and
/// its decimals, if any. The decimal separator is the last dot or comma when one or two digits
/// follow it; the thousands separator is one kind throughout (a dot too, as German writes
/// `1.250,50`), with groups of three after the first. `None` for anything else (`1,2,3`).
fn plainly(bare: &str) -> Option<(String, Option<&str>)> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // Three digits after the last one are decimals only where the other separator comes before
    // it (`1.250,505` in KWD, from the retrial); alone, `1,250` is a thousand and more.
    let decimals = |at: usize| {
        let other = if bare[at..].starts_with('.') { ',' } else { '.' };
        let after = bare.len() - at - 1;
        (1..=2).contains(&after) || after == 3 && bare[..at].contains(other)
    };
    let (whole, cents, point) = match bare.rfind(['.', ',']) {
        Some(at) if decimals(at) && digits(&bare[at + 1..]) => {
            (&bare[..at], Some(&bare[at + 1..]), bare[at..].chars().next())
        }
        _ => (bare, None, None),
    };
    let sep = whole.chars().find(|c| !c.is_ascii_digit())?;
    if !(THOUSANDS.contains(&sep) || sep == '.') || Some(sep) == point {
        return None;
    }
    let mut groups = whole.split(sep);
    let first = groups.next()?;
    let grouped = digits(first) && first.len() <= 3 && groups.all(|g| g.len() == 3 && digits(g));
    grouped.then(|| (whole.chars().filter(char::is_ascii_digit).collect(), cents))
}

/// A `--message` with an offer, counter, bid, pledge, decline or withdrawal: none, or one a
/// message may be, checked before the node is asked as `haggle message` checks it (from the
/// international retrial: an offer's long note got the node's bare byte count).
fn note(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Ok(String::new());
    }
    crate::commands::messages::text(&[text.to_owned()])
}

/// A title that fits, checked before any picture is read or uploaded.
fn title(text: &str) -> Result<String, String> {
    let max = haggle_protocol::limits::MAX_TITLE_CHARS;
    let len = text.chars().count();
    if text.trim().is_empty() {
        return Err(
            "a listing needs a title: a few words that say what it is, e.g. --title \"Road bike, 56 cm\""
                .into(),
        );
    }
    if len > max {
        return Err(format!(
            "the title is {len} characters, over the limit of {max}: keep what a search result shows \
             and put the rest in --description"
        ));
    }
    Ok(text.to_owned())
}

/// `text` without a currency's sign or code (letters that make a currency code, `EUR`, `usd`)
/// before or after it: `EUR 12`, `12€`, `$ 7.5`. Other letters stay (`12k` is no amount).
fn without_currency(text: &str) -> &str {
    let signs = |c: char| c.is_whitespace() || "€$£¥₹₽₿₩₺₪₦₴円元원".contains(c);
    let mut rest = text.trim_matches(signs);
    let code = |s: &str| s.len() >= 3 && s.parse::<Currency>().is_ok();
    let lead = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_alphabetic()).len();
    if code(&rest[..lead]) {
        rest = &rest[lead..];
    }
    let trail = rest.trim_end_matches(|c: char| c.is_ascii_alphabetic()).len();
    if code(&rest[trail..]) {
        rest = &rest[..trail];
    }
    rest.trim_matches(signs)
}

fn currency(text: &str) -> Result<Currency, String> {
    // A currency's name where its code belongs is refused by the parser, naming the code.
    text.parse().map_err(|e: haggle_node::api::types::CurrencyError| e.to_string())
}

/// A seller as `--seller` takes it: a key, or a name the owner gave one (looked up before the
/// search, see [`SearchFilters::resolve_seller`]).
fn seller(text: &str) -> Result<String, String> {
    let text = text.trim();
    match text.parse::<PublicKey>() {
        Ok(_) => Ok(text.to_owned()),
        Err(_) if haggle_node::service::check_name(text).is_ok() => Ok(text.to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name where an id belongs points to what takes a name; a key, to the person's commands.
    #[test]
    fn a_name_or_a_key_given_for_an_id_says_where_it_goes() {
        let said = id_prefix("Carol").expect_err("not an id");
        assert!(said.contains("not hex") && said.ends_with("haggle reputation Carol"), "{said}");
        let key = haggle_protocol::SecretKey::from_seed(&[5; 32]).public().to_string();
        assert!(id_prefix(&key).expect_err("a key").contains("is a person's key"));
        assert!(!id_prefix("").expect_err("empty").contains("reputation"));
        assert_eq!(id_prefix("3fa2c1").expect("an id"), "3fa2c1");
    }

    /// Splits an example command line as a shell would (double quotes group words).
    fn words(line: &str) -> Vec<String> {
        let (mut out, mut word, mut quoted) = (Vec::new(), String::new(), false);
        for c in line.chars() {
            match c {
                '"' => quoted = !quoted,
                c if c.is_whitespace() && !quoted => {
                    if !word.is_empty() {
                        out.push(std::mem::take(&mut word));
                    }
                }
                c => word.push(c),
            }
        }
        if !word.is_empty() {
            out.push(word);
        }
        out
    }

    /// The examples in a help text, each a whole command: a line ending in ` \` goes on in the
    /// next, as in a shell.
    fn examples(help: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut open: Option<String> = None;
        for line in help.lines().map(str::trim) {
            let joined = match open.take() {
                Some(start) => format!("{start} {line}"),
                None if line.starts_with("haggle ") => line.to_owned(),
                None => continue,
            };
            match joined.strip_suffix(" \\") {
                Some(start) => open = Some(start.to_owned()),
                None => out.push(joined),
            }
        }
        assert!(open.is_none(), "an example ends in a continuation: {open:?}");
        out
    }

    /// Defect: five of `publish --help`'s examples had no category, which publish needs, and
    /// failed when pasted. Every example in every command's help parses, and every publish
    /// example names a category. Defect: examples wider than a terminal were wrapped by clap
    /// in the middle of an argument; each line of an example fits in 80 columns.
    /// From a trial: the global options were listed among a command's own, `--api` between
    /// `--iban` and `--reference` in `pay-request --help`; they come apart, after them.
    #[test]
    fn global_options_come_after_a_commands_own() {
        use clap::CommandFactory;
        let mut cli = Cli::command();
        // Global options reach the subcommands when the command is built.
        cli.build();
        let help = cli.find_subcommand_mut("pay-request").expect("pay-request").render_help().to_string();
        let at = |s: &str| help.find(s).unwrap_or_else(|| panic!("{s} in {help}"));
        assert!(at("--other") < at("Global options:") && at("Global options:") < at("--data-dir"), "{help}");
    }

    /// From a trial: `listings --limit 1000` was told `1000` "is not a number".
    #[test]
    fn a_page_size_out_of_range_is_told_as_a_number() {
        assert_eq!(page_limit("50"), Ok(50));
        assert!(page_limit("1000").expect_err("refused").starts_with("`1000` is more than a page holds"));
        assert!(page_limit("0").expect_err("refused").starts_with("0 results per page shows nothing"));
        assert!(page_limit("ten").expect_err("refused").starts_with("`ten` is not a number of results"));
        assert!(page_limit("-5").expect_err("refused").starts_with("`-5` is not a number of results"));
    }

    /// From a trial: `search --help` told the user where a wording came from ("from a trial"),
    /// a note for the project's readers in a doc comment clap shows. No help, short or long,
    /// of any command says such things.
    #[test]
    fn no_help_carries_the_projects_own_notes() {
        use clap::CommandFactory;
        fn walk(command: &mut clap::Command, seen: &mut usize) {
            let help = command.render_long_help().to_string().to_lowercase();
            for note in ["trial", "a review", "defect", "found in", "[`"] {
                assert!(!help.contains(note), "`{}` --help says {note:?}:\n{help}", command.get_name());
            }
            *seen += 1;
            for sub in command.get_subcommands_mut() {
                walk(sub, seen);
            }
        }
        let mut cli = Cli::command();
        cli.build();
        let mut seen = 0;
        walk(&mut cli, &mut seen);
        assert!(seen > 30, "{seen} commands seen");
    }

    #[test]
    fn every_help_example_parses_and_publish_examples_name_a_category() {
        use clap::CommandFactory;
        let mut examples_seen = 0;
        let cli = Cli::command();
        for command in std::iter::once(&cli).chain(cli.get_subcommands()) {
            let Some(help) = command.get_after_help() else { continue };
            let help = help.to_string();
            for line in help.lines().filter(|l| l.starts_with("  ")) {
                assert!(line.len() <= 80, "`{line}` is wider than 80 columns ({})", line.len());
            }
            // A line with `...` holds a placeholder for the reader to fill (a peer id).
            for line in examples(&help).iter().filter(|l| !l.contains("...")) {
                examples_seen += 1;
                // What follows a wide gap is a note on the example.
                let line = line.split_once("  ").map_or(line.as_str(), |(command, _)| command);
                // A redirection is the shell's, not the command's.
                let line = line.split_once(" > ").map_or(line, |(command, _)| command);
                if let Err(e) = Cli::try_parse_from(words(line)) {
                    panic!("`{line}` does not parse: {e}");
                }
                if command.get_name() == "publish" {
                    assert!(
                        line.contains("--category") || line.contains("--from"),
                        "`{line}` has no --category"
                    );
                }
            }
        }
        assert!(examples_seen > 30, "{examples_seen} examples found");
    }

    /// Found in a trial: `--from 20-12-2026`, `--from 12/20/2026` and a range given to --from
    /// all read "is not a date", with nothing on what to write instead.
    #[test]
    fn a_date_slip_is_told_what_to_write() {
        assert_eq!(date("2026-12-20"), Ok("2026-12-20".to_owned()));
        assert_eq!(
            date("20-12-2026").expect_err("day first"),
            "`20-12-2026` is not a date as haggle reads it: write it year first, YYYY-MM-DD (2026-12-20?)"
        );
        assert!(date("12/20/2026").expect_err("month first").ends_with("YYYY-MM-DD (2026-12-20?)"));
        assert!(date("05.06.2026").expect_err("either").ends_with("write it year first, YYYY-MM-DD"));
        assert!(date("45-12-2026").expect_err("no such day").ends_with("write it year first, YYYY-MM-DD"));
        assert!(date("2026/12/20").expect_err("slashes").ends_with("write it with dashes, 2026-12-20"));
        assert!(
            date("2027-1-5").expect_err("one digit").ends_with("write it with two digits each, 2027-01-05")
        );
        assert!(date("2027-13-45").expect_err("no such day").ends_with("write e.g. 2026-12-20 (YYYY-MM-DD)"));
        let range = date("2027-01-05..2027-01-08").expect_err("a range");
        assert!(range.contains("is a range, and this takes one day: --from is the check-in day"), "{range}");
        assert!(date("soon").expect_err("no date").contains("write e.g. 2026-12-20 (YYYY-MM-DD)"));
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(duration("2w"), Ok(Duration::from_secs(14 * 86_400)));
        assert_eq!(duration("90m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(duration("45s"), Ok(Duration::from_secs(45)));
        let bare = duration("30").expect_err("a bare number");
        assert!(bare.contains("needs a unit: 30d (days)"), "{bare}");
        for bad in ["", "d", "3y", "0d", "-1d", "1.5d", "0"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
        assert!(duration("0s").expect_err("no time").contains("is no time at all"));
        // Defect: `--window 0s` was refused as no time at all, when no time is what it asks for.
        for off in ["0", "off", "0s", "00m", " 0h "] {
            assert_eq!(window(off), Ok(0), "{off}");
        }
        assert_eq!(window("90s"), Ok(90));
        assert!(window("2h").expect_err("too long").contains("at most 1h"));
        assert!(window("s").is_err() && window("0d").is_err());
        // A date where a time from now belongs is told how far off it is.
        let today = haggle_protocol::calendar::day_of(haggle_protocol::Timestamp::now());
        let in_ten_days = haggle_protocol::calendar::Date(today + 10).to_string();
        let date = duration(&in_ten_days).expect_err("a date");
        assert!(
            date.contains(&format!(
                "is a date: this takes a time from now, e.g. 10d to end on {in_ten_days}"
            )),
            "{date}"
        );
        assert!(date.ends_with(" UTC"), "the date is counted in UTC, and said so: {date}");
        assert!(duration("2020-01-01").expect_err("past").contains("today or in the past"));
        assert_eq!(duration("３d"), Ok(Duration::from_secs(3 * 86_400)), "full-width digits");
        assert_eq!(duration("３６ｈ"), Ok(Duration::from_secs(36 * 3_600)), "and letters (from the retrial)");
        // Not a number of days nothing could take.
        let far = haggle_protocol::calendar::Date(today + 200).to_string();
        let date = duration(&far).expect_err("a date");
        assert!(date.contains("200 days from now") && date.contains("more than 90 days"), "{date}");
        assert!(!date.contains("200d"), "{date}");
    }

    #[test]
    fn node_addresses_are_checked_before_the_node_starts() {
        assert!(listen_addr("/ip4/0.0.0.0/tcp/7400").is_ok());
        assert!(listen_addr("/ip4/1.2.3/tcp/5").expect_err("3 octets").contains("is not a multiaddr"));
        let peer = "/ip4/127.0.0.1/tcp/7400/p2p/12D3KooWPhSf7sCUgUMBVTPbA9bvkjYAQPHHDNPFWdA1mPN8Xxwq";
        assert_eq!(bootstrap_addr(peer).as_deref(), Ok(peer));
        let bare = bootstrap_addr("/ip4/127.0.0.1/tcp/7400").expect_err("no peer id");
        assert!(bare.contains("must end in /p2p/<PeerId>"), "{bare}");
        assert_eq!(api_listen_addr("127.0.0.1:0").map(|a| a.port()), Ok(0));
        let port = api_listen_addr("127.0.0.1:99999").expect_err("no such port");
        assert!(port.contains("0 to 65535"), "{port}");
    }

    #[test]
    fn an_api_address_may_leave_out_its_scheme() {
        for (given, url) in [
            ("127.0.0.1:7401", "http://127.0.0.1:7401"),
            ("http://127.0.0.1:7401/", "http://127.0.0.1:7401"),
            ("http://[::1]:7401", "http://[::1]:7401"),
            ("node.local:7401", "http://node.local:7401"),
        ] {
            assert_eq!(api_url(given).as_deref(), Ok(url), "{given}");
        }
        assert!(api_url("https://127.0.0.1:7401").expect_err("https").contains("plain http"));
        for bad in ["127.0.0.1", "127.0.0.1:port", ":7401", "127.0.0.1:0", ""] {
            assert!(api_url(bad).expect_err(bad).contains("HOST:PORT"), "{bad}");
        }
    }

    #[test]
    fn quantities_and_ids_are_checked_in_the_users_terms() {
        assert_eq!(quantity("3"), Ok(3));
        for bad in ["0", "99999999999", "-1", "two"] {
            let err = quantity(bad).expect_err(bad);
            assert!(err.contains("1 to 1000000"), "{bad}: {err}");
        }
        assert!(quantity("0").expect_err("none").ends_with("retract it (haggle retract ID)"));
        assert!(id_prefix("6fd7e6").is_ok());
        for bad in ["", "abc", "not-hex!"] {
            assert!(id_prefix(bad).is_err(), "{bad}");
        }
        // A currency's name is not its code.
        assert_eq!(
            currency("euro"),
            Err("`euro` is a currency's name or sign: write its code, EUR".to_owned())
        );
        assert!(currency("usdt").is_ok() && currency(" eur ").is_ok());
        // A PeerId given for an id is named as what it is, with where it goes.
        let peer = haggle_protocol::fixtures::key(1).public().to_string();
        let err = id_prefix(&peer).expect_err("a PeerId");
        assert!(err.contains("a PeerId") && err.contains(&format!("haggle reputation {peer}")), "{err}");
    }

    #[test]
    fn a_category_is_checked_and_told_in_a_z() {
        assert_eq!(category("Home/Decor"), Ok("Home/Decor".to_owned()));
        assert_eq!(category(" music "), Ok("music".to_owned()));
        let said = category("fahrzeuge/fahrräder").expect_err("an umlaut");
        assert!(said.ends_with("; write fahrzeuge/fahrraeder"), "{said}");
        assert!(category("maison/décor").expect_err("an accent").ends_with("; write maison/decor"));
        let said = category("乗り物/自転車").expect_err("another script");
        assert!(said.contains("e.g. vehicles/bikes") && said.contains("--tag"), "{said}");
        assert!(category("home//decor").is_err());
    }

    #[test]
    fn amounts_are_checked_before_the_node_is_asked() {
        for good in ["120", "12.50", ".5", "0", " 7 "] {
            assert_eq!(amount(good), Ok(good.trim().to_owned()), "{good}");
        }
        assert!(amount("-3").expect_err("negative").contains("cannot be negative: write 3"));
        // From an international trial: `15 000` with a no-break space got the bare message.
        for spaced in ["15 000", "15\u{a0}000", "15\u{202f}000", "15'000", "15,000"] {
            let said = amount(spaced).expect_err("separated");
            assert!(
                said.ends_with("no thousands separators, 15000 (a decimal point is written as a dot)"),
                "{spaced}: {said}"
            );
        }
        // With a decimal comma as well (the review: `15 000,50` was told 1500050).
        for (typed, plain) in
            [("15 000,50", "15000.50"), ("1\u{a0}200,5", "1200.5"), ("1'200,00 EUR", "1200.00")]
        {
            let said = amount(typed).expect_err("separated");
            assert!(said.ends_with(&format!("no thousands separators, {plain}")), "{typed}: {said}");
        }
        for with_code in ["20 USD", "20EUR", "12.50 eur", "EUR12", "€12", "12 €", "$ 7.5"] {
            let err = amount(with_code).expect_err("a currency in the amount");
            assert!(err.contains("write the number alone") && err.contains("--currency"), "{err}");
        }
        // A search's bound has no listing whose currency it could take (from a trial).
        assert_eq!(
            search_amount("30€").expect_err("a currency in it"),
            "`30€` is not an amount: write the number alone, 30; the currency is --currency's"
        );
        // An offer's quantity of 0 is not told to retract a listing (from a trial's buyer).
        assert_eq!(
            terms_quantity("0"),
            Err(format!("a quantity is 1 to {}", haggle_protocol::limits::MAX_QUANTITY))
        );
        assert!(quantity("0").expect_err("0").contains("retract it"));
        assert_eq!(terms_quantity("3"), Ok(3));
        let err = amount("-1e3").expect_err("negative garbage");
        assert!(err.contains("cannot be negative") && !err.contains("write 1e3"), "{err}");
        for bad in ["12,5", "", ".", "1e3", "12.5.0", "ten", "1,200", "EUR", "12k", "2m"] {
            assert!(amount(bad).expect_err(bad).contains("is not an amount"), "{bad}");
        }
        assert!(amount("12,50").expect_err("a comma").ends_with("write the decimal point as a dot, 12.50"));
        // A tier's smallest pledge is an amount too, named as the tier's.
        let err = tier("Mug:ten").expect_err("not an amount");
        assert!(
            err.contains("`ten` is not an amount") && err.ends_with("(the tier's smallest pledge, NAME:MIN)")
        );
        assert_eq!(tier("Mug:12.50:3"), Ok(("Mug".to_owned(), "12.50".to_owned(), Some(3))));
        let long = "x".repeat(141);
        let err = Cli::try_parse_from(["haggle", "publish", "--title", &long, "--category", "home"])
            .expect_err("too long");
        assert!(
            err.to_string().contains("141 characters, over the limit of 140")
                && err.to_string().contains("--description"),
            "{err}"
        );
        // `12,000` in yen is 12000; `12.50` is no alternative to it (from a trial).
        let yen = amount("12,000").expect_err("thousands");
        assert!(!yen.contains("e.g.") && !yen.contains("12.50"), "{yen}");
        assert!(amount("2,500").expect_err("thousands").contains("no thousands separators, 2500 ("));
        // From an international trial: Swiss, German and English ways of writing 1250.50.
        for typed in ["1'250.50", "1,250.50", "1.250,50", "1’250.50", "1 250.50 CHF"] {
            let said = amount(typed).expect_err("separated");
            assert!(said.ends_with("no thousands separators, 1250.50"), "{typed}: {said}");
        }
        assert!(amount("1.000.000").expect_err("dots between thousands").contains("separators, 1000000 ("));
        assert!(amount("1,2,3").expect_err("no grouping").contains("e.g. 123 (a decimal point"));
        assert!(
            amount("1250.-")
                .expect_err("Swiss whole francs")
                .ends_with("write whole amounts as digits alone, 1250")
        );
        assert!(
            amount("1'250.-")
                .expect_err("with a separator")
                .ends_with("write whole amounts as digits alone, 1250")
        );
        assert!(amount("1.250,505").expect_err("thousandths").ends_with("no thousands separators, 1250.505"));
        assert!(amount("12,50 EUR").expect_err("both").ends_with("write the decimal point as a dot, 12.50"));
        assert!(!amount("12k").expect_err("a suffix").contains("write the number alone"));
        // From an international trial: digits of other scripts, and signs of other currencies.
        assert_eq!(amount("１５０００"), Ok("15000".to_owned()));
        assert_eq!(amount("١٢٠٠٫٥"), Ok("1200.5".to_owned()));
        assert_eq!(amount("१२०"), Ok("120".to_owned()));
        for typed in ["15000円", "₩450000", "١٢٠٠ ₪"] {
            assert!(amount(typed).expect_err("a sign").contains("write the number alone"), "{typed}");
        }
        // A negative price reaches the check instead of reading as an unknown flag.
        // A bid's amount is its price, by either name (a pledge's is --amount).
        assert!(Cli::try_parse_from(["haggle", "bid", "3fa2c1", "--amount", "57"]).is_ok());
        let err = Cli::try_parse_from(["haggle", "offer", "3fa2c1", "--price", "-3"]).expect_err("negative");
        assert!(err.to_string().contains("cannot be negative"), "{err}");
        // So does a negative duration.
        let err =
            Cli::try_parse_from(["haggle", "renew", "3fa2c1", "--expires", "-1d"]).expect_err("negative");
        assert!(err.to_string().contains("is in the past") && err.to_string().contains("e.g. 1d"), "{err}");
        let err =
            Cli::try_parse_from(["haggle", "renew", "3fa2c1", "--expires", "--json"]).expect_err("no value");
        assert!(err.to_string().contains("a duration is missing before `--json`"), "{err}");
        // So does a negative quantity.
        let err = Cli::try_parse_from(["haggle", "offer", "3fa2c1", "--qty", "-1"]).expect_err("negative");
        assert!(err.to_string().contains("from 1 to"), "{err}");
        // So does a name starting with a dash (a trial read "unexpected argument '-d'"), while
        // --clear and --json stay flags.
        let err = Cli::try_parse_from(["haggle", "name", "carol", "-dash"]).expect_err("a dash");
        assert!(err.to_string().contains("does not start with a dash"), "{err}");
        for flags in [&["--clear"][..], &["--clear", "--json"], &["--json", "--clear"]] {
            let words = ["haggle", "name", "carol"].iter().chain(flags).copied();
            let cli = Cli::try_parse_from(words).expect("parsed");
            assert!(matches!(cli.command, Command::Name { clear: true, name: None, .. }), "{flags:?}");
        }
    }

    /// From the international retrial: a name held with joiners or a composed accent is found
    /// by `--seller` typed without them, as `reputation` finds it.
    #[test]
    fn a_seller_named_is_found_however_the_name_is_typed() {
        let key = haggle_protocol::fixtures::key(2).public();
        let held = vec![
            (key, "👨\u{200D}👩\u{200D}👧".to_owned()),
            (haggle_protocol::fixtures::key(3).public(), "Émile".into()),
        ];
        for typed in ["👨👩👧", "👨\u{200D}👩\u{200D}👧", "E\u{301}mile", "émile"] {
            let mut filters =
                match Cli::try_parse_from(["haggle", "search", "--seller", typed]).expect("parsed").command {
                    Command::Search(args) => args.filters,
                    _ => unreachable!("a search"),
                };
            filters.resolve_seller(|| Ok::<_, anyhow::Error>(held.clone())).expect(typed);
            assert!(filters.seller.is_some(), "{typed}");
        }
    }

    /// From a trial: `--within 5 km` searched for the word "km", found nothing, and exited 0.
    #[test]
    fn a_distance_split_from_its_unit_is_refused() {
        let filters = |line: &[&str]| match Cli::try_parse_from(line).expect("parsed").command {
            Command::Search(args) => args.filters,
            Command::Watch(args) => args.filters,
            _ => unreachable!("a search or watch"),
        };
        let split = filters(&["haggle", "search", "bike", "--around", "51.05,3.71", "--within", "5", "km"]);
        assert_eq!(
            split.check_within().expect_err("split").to_string(),
            "--within 5 km: write the distance without a space, --within 5km (`km` was read as a word to search for)"
        );
        let watch = filters(&["haggle", "watch", "--around", "51.05,3.71", "--within", "800", "M"]);
        assert!(watch.check_within().expect_err("split").to_string().contains("--within 800m"));
        // Miles too (from an international trial: `5 mi` searched 5 km for the word "mi").
        let miles = filters(&["haggle", "search", "--around", "51.05,3.71", "--within", "5", "mi"]);
        assert!(miles.check_within().expect_err("split").to_string().contains("--within 5mi"));
        assert!(
            filters(&["haggle", "search", "--around", "51.05,3.71", "--within", "5mi"])
                .check_within()
                .is_ok()
        );
        for fine in [
            &["haggle", "search", "bike", "--around", "51.05,3.71", "--within", "5km"][..],
            &["haggle", "search", "km", "marker"],
            &["haggle", "search", "m", "--around", "51.05,3.71", "--within", "5km"],
        ] {
            assert!(filters(fine).check_within().is_ok(), "{fine:?}");
        }
    }

    #[test]
    fn huge_durations_are_a_clear_error_not_an_overflow() {
        for huge in ["99999999999w", "18446744073709551615s", "184467440737095516150d", "36501d"] {
            let err = duration(huge).expect_err(huge);
            assert!(err.contains("too long") || err.contains("not a duration"), "{huge}: {err}");
        }
    }

    #[test]
    fn every_kind_period_and_sort_is_offered_by_its_name() {
        let names = |v: &[PossibleValue]| v.iter().map(|p| p.get_name().to_owned()).collect::<Vec<_>>();
        let kinds: Vec<_> =
            Choice::<ListingKind>::value_variants().iter().filter_map(|c| c.to_possible_value()).collect();
        assert_eq!(
            names(&kinds),
            ["sell", "wanted", "service", "rental", "giveaway", "auction", "crowdfund", "digital"]
        );
        let sorts: Vec<_> =
            Choice::<Sort>::value_variants().iter().filter_map(|c| c.to_possible_value()).collect();
        assert_eq!(
            names(&sorts),
            ["relevance", "price", "price-desc", "newest", "reputation", "ending-soon", "distance"]
        );
        assert_eq!(Choice::<Period>::value_variants().len(), Period::ALL.len());
        // `--per night` is a day's price: a rental is booked by the night.
        let night = <Choice<Period> as ValueEnum>::from_str("night", true).expect("night");
        assert_eq!(night.0, Period::Day);
        // Capitals are the same word (`Positive` was refused, with `positive` suggested).
        let parsed = Cli::try_parse_from(["haggle", "feedback", "3724ae", "Positive"]);
        assert!(parsed.is_ok(), "{parsed:?}");
        let parsed = Cli::try_parse_from(["haggle", "search", "--kind", "Rental", "--sort", "NEWEST"]);
        assert!(parsed.is_ok(), "{parsed:?}");
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
