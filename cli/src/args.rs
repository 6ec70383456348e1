//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "haggle",
    version,
    about = "A peer-to-peer marketplace: publish listings, search, and negotiate deals directly with other people.",
    after_help = "Start a node with `haggle node`, then use the other commands in another terminal.\n\
                  Examples:\n  haggle node\n  haggle publish --title \"Road bike\" --price 120 --currency EUR --category vehicles/bikes\n  \
                  haggle search bike --max-price 200 --currency EUR\n  haggle offer 3fa2c1 --price 100"
)]
pub struct Cli {
    /// The node's data directory (identity, database, config).
    #[arg(long, global = true, env = "HAGGLE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Talk to the node API at this URL instead of the data dir's (token from HAGGLE_API_TOKEN).
    #[arg(long, global = true, value_name = "URL")]
    pub api: Option<String>,
    /// Print one JSON document instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// More log output (repeat for more); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors in the log.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a node in the foreground (creates the identity and data dir on first run).
    #[command(
        after_help = "Examples:\n  haggle node\n  haggle --data-dir /tmp/b node --bootstrap /ip4/127.0.0.1/tcp/7400/p2p/12D3KooW... --listen /ip4/127.0.0.1/tcp/0 --api-listen 127.0.0.1:0"
    )]
    Node(NodeArgs),
    /// Print this node's id (its PeerId).
    #[command(after_help = "Example:\n  haggle id\n  haggle --data-dir /tmp/b id")]
    Id,
    /// Show the node's state: peers, listings stored, outbox, API address.
    #[command(after_help = "Examples:\n  haggle status\n  haggle --json status")]
    Status,
    /// List connected peers.
    #[command(after_help = "Example:\n  haggle peers")]
    Peers,
    /// Publish a new listing.
    #[command(
        after_help = "Examples:\n  haggle publish --title \"Road bike\" --price 120 --currency EUR --category vehicles/bikes --tag steel\n  \
                            haggle publish --kind rental --title \"Cargo trailer\" --price 15 --currency EUR --per day --category vehicles/trailers\n  \
                            haggle publish --kind giveaway --title \"Sofa\" --category home/furniture --location Ghent"
    )]
    Publish(PublishArgs),
    /// Change one of your listings (a new revision; unchanged fields stay).
    #[command(after_help = "Example:\n  haggle update 3fa2c1 --price 110 --qty 2")]
    Update(UpdateArgs),
    /// Extend one of your listings before it expires.
    #[command(after_help = "Example:\n  haggle renew 3fa2c1 --expires 30d")]
    Renew {
        /// Listing id (any unique prefix of 6+ characters).
        id: String,
        /// New lifetime from now, e.g. 30d, 2w, 12h.
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
    },
    /// Close one of your listings (everyone's copy is replaced by a signed tombstone).
    #[command(after_help = "Example:\n  haggle retract 3fa2c1")]
    Retract {
        /// Listing id (any unique prefix of 6+ characters).
        id: String,
    },
    /// List your own listings.
    #[command(after_help = "Examples:\n  haggle listings\n  haggle --json listings")]
    Listings,
    /// Show a listing, offer thread or deal by id.
    #[command(after_help = "Examples:\n  haggle show 3fa2c1\n  haggle --json show 9b1d0e")]
    Show {
        /// Any unique prefix of 6+ characters.
        id: String,
    },
    /// Search the listings this node knows.
    #[command(
        after_help = "Examples:\n  haggle search road bike\n  haggle search --category vehicles --max-price 300 --currency EUR --sort price\n  haggle search --kind giveaway --near ghent"
    )]
    Search(SearchArgs),
    /// Make an offer on someone's listing.
    #[command(after_help = "Example:\n  haggle offer 3fa2c1 --price 100 --message \"Can pick up Saturday\"")]
    Offer(OfferArgs),
    /// Answer the other party's terms with new ones.
    #[command(after_help = "Example:\n  haggle counter 9b1d0e --price 110")]
    Counter(CounterArgs),
    /// Accept the other party's terms: this makes a deal.
    #[command(after_help = "Example:\n  haggle accept 9b1d0e")]
    Accept {
        /// Thread id (the offer's id, or any message's; prefix of 6+ characters).
        thread: String,
    },
    /// Refuse the other party's terms and end the thread.
    #[command(after_help = "Example:\n  haggle decline 9b1d0e --message \"Sold elsewhere, sorry\"")]
    Decline {
        thread: String,
        #[arg(long, short, default_value = "")]
        message: String,
    },
    /// Take back your own offer or counter and end the thread.
    #[command(after_help = "Example:\n  haggle withdraw 9b1d0e --message \"Found one nearer\"")]
    Withdraw {
        thread: String,
        #[arg(long, short, default_value = "")]
        message: String,
    },
    /// List your negotiation threads, incoming and outgoing.
    #[command(after_help = "Examples:\n  haggle offers\n  haggle --json offers")]
    Offers,
    /// List your deals.
    #[command(after_help = "Examples:\n  haggle deals\n  haggle --json deals")]
    Deals,
    /// Follow live events: new listings (matching the search, if given), offers, deals.
    #[command(after_help = "Examples:\n  haggle watch\n  haggle watch bike --max-price 200 --currency EUR")]
    Watch(SearchArgs),
    /// Print shell completions.
    #[command(
        after_help = "Example:\n  haggle completions bash > ~/.local/share/bash-completion/completions/haggle"
    )]
    Completions { shell: clap_complete::Shell },
}

#[derive(Debug, Args)]
pub struct NodeArgs {
    /// Peer-to-peer listen address (multiaddr); repeat for several. Default: TCP and QUIC on 7400.
    #[arg(long, value_name = "MULTIADDR")]
    pub listen: Vec<String>,
    /// A peer to connect to, as a multiaddr ending in /p2p/<PeerId>; repeat for several.
    #[arg(long, value_name = "MULTIADDR")]
    pub bootstrap: Vec<String>,
    /// Do not look for peers on the local network (mDNS).
    #[arg(long)]
    pub no_mdns: bool,
    /// Where the local API listens (default 127.0.0.1:7401).
    #[arg(long, value_name = "ADDR")]
    pub api_listen: Option<std::net::SocketAddr>,
    /// Allow the API on a non-loopback address (it still requires the token).
    #[arg(long)]
    pub api_public: bool,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// sell, wanted, service, rental or giveaway.
    #[arg(long, default_value = "sell")]
    pub kind: String,
    #[arg(long)]
    pub title: String,
    #[command(flatten)]
    pub fields: ListingFields,
    /// Lifetime, e.g. 30d (default), 2w, 12h; at most 90d.
    #[arg(long, value_name = "DURATION")]
    pub expires: Option<String>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Listing id (any unique prefix of 6+ characters).
    pub id: String,
    #[arg(long)]
    pub title: Option<String>,
    #[command(flatten)]
    pub fields: ListingFields,
}

#[derive(Debug, Args)]
pub struct ListingFields {
    /// Price as you would write it: 120, 12.50.
    #[arg(long)]
    pub price: Option<String>,
    /// Currency code: EUR, USD, GBP, BTC, ...
    #[arg(long)]
    pub currency: Option<String>,
    /// For rentals and services: hour, day, week or month.
    #[arg(long)]
    pub per: Option<String>,
    /// How many (default 1).
    #[arg(long)]
    pub qty: Option<u32>,
    /// Category path, e.g. vehicles/bikes.
    #[arg(long)]
    pub category: Option<String>,
    /// A tag; repeat for several.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Where the thing is, in words.
    #[arg(long)]
    pub location: Option<String>,
    /// Geohash of the location (optional).
    #[arg(long)]
    pub geohash: Option<String>,
    /// An accepted way to pay; repeat for several.
    #[arg(long = "pay", value_name = "METHOD")]
    pub payment: Vec<String>,
    /// Delivery terms, e.g. "pickup only".
    #[arg(long)]
    pub delivery: Option<String>,
    #[arg(long, conflicts_with = "description_file")]
    pub description: Option<String>,
    /// Read the description from a file.
    #[arg(long, value_name = "FILE")]
    pub description_file: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct SearchArgs {
    /// Words to search for.
    pub text: Vec<String>,
    #[arg(long)]
    pub kind: Option<String>,
    /// Category path or prefix, e.g. vehicles.
    #[arg(long)]
    pub category: Option<String>,
    #[arg(long)]
    pub min_price: Option<String>,
    #[arg(long)]
    pub max_price: Option<String>,
    #[arg(long)]
    pub currency: Option<String>,
    /// Seller's PeerId.
    #[arg(long)]
    pub seller: Option<String>,
    /// Words that must appear in the location.
    #[arg(long)]
    pub near: Option<String>,
    /// relevance, price, price-desc or newest.
    #[arg(long)]
    pub sort: Option<String>,
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
}

#[derive(Debug, Args)]
pub struct OfferArgs {
    /// Listing id (any unique prefix of 6+ characters).
    pub listing: String,
    #[command(flatten)]
    pub terms: TermsArgs,
}

#[derive(Debug, Args)]
pub struct CounterArgs {
    /// Thread id (prefix of 6+ characters).
    pub thread: String,
    #[command(flatten)]
    pub terms: TermsArgs,
}

#[derive(Debug, Args)]
pub struct TermsArgs {
    /// Price for the whole quantity: 100, 99.50 (not needed for giveaways).
    #[arg(long)]
    pub price: Option<String>,
    /// Currency (default: the listing's).
    #[arg(long)]
    pub currency: Option<String>,
    #[arg(long)]
    pub qty: Option<u32>,
    #[arg(long, short, default_value = "")]
    pub message: String,
    /// How long the proposal stands, e.g. 3d (default), 12h.
    #[arg(long, value_name = "DURATION")]
    pub expires: Option<String>,
}
