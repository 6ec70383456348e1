//! `haggle publish`, `update`, `renew`, `retract`, `listings` and `show`.

use std::time::Duration;

use anyhow::Result;

use haggle_node::api::types::{
    CalendarDraft, GossipState, ListingDraft, ListingPatch, ListingState, ListingView, ListingsParams,
    ObjectView, RenewRequest,
};

use super::{Context, files};
use crate::args::{ListingFields, ListingsArgs, PublishArgs, UpdateArgs};
use crate::{output, usage};
use haggle_node::api::types::ListingKind;

pub fn publish(cx: &Context<'_>, mut args: PublishArgs) -> Result<()> {
    let currency_typed = args.fields.currency.is_some();
    let lent = match args.from.clone() {
        Some(from) => {
            let src = cx.api.listing(&from)?;
            // Named by its id's first 10 characters when that is what was typed (a prefix of
            // another revision's id, or a name, is kept as typed), and by its title.
            let hex = src.id.to_hex();
            let named =
                if hex.starts_with(&from.to_ascii_lowercase()) { output::short(&src.id) } else { from };
            Some((super::from::fill(&mut args, &src)?, (named, src.title.clone())))
        }
        None => None,
    };
    let PublishArgs { from: _, kind, title, mut fields, expires, auction, campaign, file, preview, again } =
        args;
    let kind = kind.map_or(ListingKind::Sell, |k| k.0);
    let title = title.unwrap_or_default();
    // A slip in the code, refused before any picture or file is uploaded (the node checks too).
    if let Some(c) =
        fields.currency.as_ref().filter(|c| currency_typed && !fields.any_currency && !c.is_known())
    {
        let unknown =
            haggle_node::service::InvalidInput::UnknownCurrency { code: c.to_string(), near: c.near_known() };
        return Err(usage(unknown.to_string()));
    }
    let auction = super::auction::draft(kind, &auction)?;
    let campaign = super::campaign::draft(kind, &campaign, &mut fields.price)?;
    let goods = match (kind, &file) {
        (ListingKind::Digital, Some(_)) if fields.price.is_none() => {
            return Err(usage(
                "a digital listing needs a price, e.g. --price 5 --currency EUR (--price 0 gives it away)",
            ));
        }
        (ListingKind::Digital, Some(file)) => Some(files::read_goods(file, preview.as_deref())?),
        (ListingKind::Digital, None) => {
            return Err(usage("a digital listing sells a file: add --file FILE"));
        }
        (other, Some(_)) => {
            return Err(usage(format!(
                "--file is for --kind digital (a file sold); to show pictures of a {other} listing use --image"
            )));
        }
        (other, None) if preview.is_some() => {
            return Err(usage(format!(
                "--preview is a sample of a file sold (--kind digital --file FILE --preview SAMPLE); to \
                 show pictures of a {other} listing use --image"
            )));
        }
        (_, None) => None,
    };
    let calendar_flags = !fields.available.is_empty()
        || fields.min_stay.is_some()
        || fields.max_stay.is_some()
        || fields.instant
        || fields.no_instant;
    if calendar_flags && !matches!(kind, ListingKind::Rental | ListingKind::Service) {
        return Err(usage(format!(
            "only a rental or a service takes a calendar (--available, --min-stay, --max-stay, --instant): leave them out of a {kind} listing, or publish it with --kind rental or --kind service"
        )));
    }
    if fields.no_images {
        return Err(usage("--no-images is for haggle update (a new listing has no pictures unless --image)"));
    }
    // A period on a kind priced whole, refused before any picture or file goes up (from a
    // trial: a digital good's 3.4 MiB was uploaded, then the listing refused).
    if fields.per.is_some()
        && matches!(
            kind,
            ListingKind::Sell
                | ListingKind::Wanted
                | ListingKind::Auction
                | ListingKind::Crowdfund
                | ListingKind::Digital
        )
    {
        return Err(usage(format!(
            "{}: leave out --per",
            haggle_protocol::ValidationError::PeriodNotAllowed(kind)
        )));
    }
    if fields.no_tags || fields.no_pay {
        let flag = if fields.no_tags { "--no-tags" } else { "--no-pay" };
        return Err(usage(format!("{flag} is for haggle update (a new listing has only what you give it)")));
    }
    let pictures = files::read_pictures(&fields.images)?;
    let keep_location = fields.keep_location;
    let begun = begun_ranges(&fields.available);
    let patch = patch(fields, true)?;
    if kind == ListingKind::Rental && patch.price.is_some() && patch.per.is_none() {
        return Err(usage(
            "a rental's price needs a period: add --per hour, day, week or month (--per night is a day)",
        ));
    }
    let (lent, from) = lent.map_or((None, None), |(lent, from)| (Some(lent), Some(from)));
    if patch.category.as_deref().is_none_or(|c| c.trim().is_empty()) {
        return Err(usage(
            "a listing needs a category, so searches by category find it: add --category, e.g. --category home/lighting (lowercase words joined by /)",
        ));
    }
    let mut images = files::upload_pictures(cx, pictures, keep_location)?;
    if let Some(lent) = &lent
        && images.is_empty()
    {
        images.clone_from(&lent.images);
    }
    let file = goods.map(|g| files::upload_goods(cx, g)).transpose()?;
    let typed_geohash = patch.geohash.clone();
    let draft = ListingDraft {
        kind,
        title,
        description: patch.description.unwrap_or_default(),
        category: patch.category.unwrap_or_default(),
        tags: patch.tags.unwrap_or_default(),
        price: patch.price,
        currency: patch.currency,
        per: patch.per,
        quantity: patch.quantity,
        location: patch.location,
        geohash: patch.geohash,
        payment: patch.payment.unwrap_or_default(),
        delivery: patch.delivery,
        expires_in: expires.map(|d| d.as_secs()),
        auction,
        calendar: patch.calendar,
        campaign,
        images,
        file,
        again,
        // A code copied from the earlier listing is the one it was published in, not a slip.
        any_currency: patch.any_currency || (lent.is_some() && !currency_typed),
    };
    let l = output::signing(cx.json, || cx.api.publish(&draft))?;
    let free_sale = kind == ListingKind::Sell && l.price.as_ref().is_some_and(|p| p.amount == 0);
    let id = l.id;
    let window_note = l.auction.as_ref().and_then(|a| window_longer_than_auction(a, l.created_at));
    let past_expiry = past_expiry(&l);
    let (created_at, expires_at) = (l.created_at, l.expires_at);
    if cx.json {
        // As the API answers it, tagged `"type": "listing"`.
        output::json(&ObjectView::Listing(l))?;
    } else {
        let copied = match &from {
            Some((named, src_title)) if *src_title != l.title => {
                format!(", copied from {src_title} ({named})")
            }
            Some((named, _)) => format!(", copied from {named}"),
            None => String::new(),
        };
        outln!("Published {} ({}){copied}: stored; {}.", l.title, output::short(&l.id), gossip(&l));
        output::listing(&l);
    }
    if let Some(line) = window_note {
        note!(cx.json, "{line}");
    }
    if let (Some(lent), Some((from, _))) = (&lent, &from)
        && !lent.not_carried.is_empty()
    {
        let kind = kind.to_string();
        note!(
            cx.json,
            "{from} was {} {} listing; as {} {kind} listing, the new one differs: {}.",
            output::a(&lent.src_kind),
            lent.src_kind,
            output::a(&kind),
            lent.not_carried.join("; ")
        );
    }
    if let (Some(lent), Some((from, _))) = (&lent, &from)
        && lent.pictures_left
    {
        note!(
            cx.json,
            "the pictures of {from} are another author's and were not copied: add --image FILE to show your own."
        );
    }
    note_begun(cx, &begun);
    brief_note(cx, created_at, expires_at, &id);
    if let Some(line) = coordinates_note(typed_geohash.as_deref(), &id) {
        note!(cx.json, "{line}");
    }
    if let Some(line) = past_expiry {
        note!(cx.json, "{line}");
    }
    if free_sale {
        note!(
            cx.json,
            "a price of 0 sells it for nothing. To give it away, a giveaway (--kind giveaway, \
             no price) says so, and searches with --kind giveaway find it: publish one and retract \
             this one (`haggle retract {}`) if that is what you meant.",
            output::short(&id)
        );
    }
    Ok(())
}

/// The `--available` ranges that begin before today (the node opens them from today on).
fn begun_ranges(available: &[String]) -> Vec<String> {
    let today = haggle_protocol::calendar::day_of(haggle_protocol::Timestamp::now());
    available
        .iter()
        .filter(|text| {
            text.parse::<haggle_protocol::DateRange>().is_ok_and(|r| r.from < today && r.to > today)
        })
        .cloned()
        .collect()
}

/// Says when a listing's calendar is open past the listing's own expiry: no one finds or books
/// it once it expires, so the later nights can be booked only until then, unless it is renewed
/// (a trial's cabin was open until March on a listing that expired in January, unsaid).
fn past_expiry(l: &ListingView) -> Option<String> {
    use haggle_protocol::calendar::{Date, DateRange, day_of};
    let open = &l.calendar.as_ref()?.open;
    let last = open.iter().filter_map(|r| r.parse::<DateRange>().ok()).map(|r| r.to).max()?;
    let expires = day_of(haggle_protocol::Timestamp::from_millis(l.expires_at));
    (last > expires).then(|| {
        format!(
            "the calendar is open until {}, but the listing expires on {} (UTC): after that no one finds or books it. \
             Renew it before then (haggle renew {} --expires 90d; a listing lives at most 90 days from its latest revision).",
            Date(last),
            Date(expires),
            output::short(&l.id)
        )
    })
}

/// Says when a listing lives less than a minute: published, it may expire before peers store
/// it or anyone searches (a trial's `--expires 1s` went out without a word).
fn brief_note(cx: &Context<'_>, created_at: u64, expires_at: u64, id: &haggle_protocol::ObjectId) {
    let now = output::now_ms();
    // Its lifetime as signed, not what is left by the time this is printed (a trial's
    // `--expires 1m` read "58 seconds" and was told it lived less than a minute).
    if expires_at.saturating_sub(created_at) < 60_000 {
        note!(
            cx.json,
            "it {}: a listing that lives less than a minute may expire before other nodes store it or anyone \
             finds it. To keep it up longer: haggle renew {} --expires 30d",
            output::expiry(expires_at, now),
            output::short(id)
        );
    }
}

/// How coordinates typed for `--geohash` were read (from a trial: `3.717,51.054`, longitude
/// first as some maps copy it, put a listing marked Ghent in the Indian Ocean, unsaid): latitude
/// first, with the command that swaps them. `None` for a geohash typed as one.
fn coordinates_note(given: Option<&str>, id: &haggle_protocol::ObjectId) -> Option<String> {
    let given = given?.trim();
    let (lat, lon) = given.split_once(',')?;
    let (lat, lon) = (lat.trim(), lon.trim());
    let point = haggle_protocol::geo::place(given).ok()?;
    let ns = if point.lat < 0.0 { "south" } else { "north" };
    let ew = if point.lon < 0.0 { "west" } else { "east" };
    let swap = match haggle_protocol::geo::place(&format!("{lon},{lat}")) {
        Ok(_) => format!(
            "; if your map gave the longitude first: haggle update {} --geohash {lon},{lat}",
            output::short(id)
        ),
        Err(_) => String::new(),
    };
    Some(format!("--geohash {given} was read as latitude {lat} ({ns}), longitude {lon} ({ew}){swap}"))
}

/// Says which `--available` ranges were opened from today only.
fn note_begun(cx: &Context<'_>, begun: &[String]) {
    if begun.is_empty() {
        return;
    }
    let today = haggle_protocol::calendar::day_of(haggle_protocol::Timestamp::now());
    note!(
        cx.json,
        "open dates start today ({} in UTC): {} {} open from today on; the nights before cannot be booked.",
        haggle_protocol::calendar::Date(today),
        begun.join(", "),
        if begun.len() == 1 { "is" } else { "are" }
    );
}

pub fn update(cx: &Context<'_>, args: UpdateArgs) -> Result<()> {
    if let Some(flag) = args.fixed_term() {
        return Err(usage(crate::args::fixed_at_publishing(flag, &args.id)));
    }
    if let Some(expires) = &args.expires {
        // The id first: a renew of an id nothing matches would only fail next (a trial's
        // `update 999999 --expires 10d`).
        cx.api.listing(&args.id)?;
        return Err(usage(format!(
            "update keeps the listing's lifetime: to change it, haggle renew {} --expires {expires}",
            args.id
        )));
    }
    let UpdateArgs { id, title, fields, file, preview, .. } = args;
    let pictures = files::read_pictures(&fields.images)?;
    let goods = file.as_deref().map(|f| files::read_goods(f, preview.as_deref())).transpose()?;
    let new_preview = match (&file, &preview) {
        (None, Some(path)) => Some(files::read_preview(path)?),
        _ => None,
    };
    let (keep_location, no_images) = (fields.keep_location, fields.no_images);
    let begun = begun_ranges(&fields.available);
    let mut patch = ListingPatch { title, ..patch(fields, false)? };
    let files_change = !pictures.is_empty() || goods.is_some() || new_preview.is_some();
    if patch.is_empty() && !files_change && !no_images {
        return Err(usage("nothing to change: give at least one field, e.g. --price 110"));
    }
    // Checked before any upload: the listing is the owner's, and files go on a digital good.
    let current = if files_change || no_images { Some(cx.api.listing(&id)?) } else { None };
    if let Some(current) = &current {
        if !current.mine {
            // Not a usage mistake (exit 1, as the node's refusal of any other change to it).
            anyhow::bail!(
                "listing {} is not yours: only its author can change its files",
                crate::output::short(&current.id)
            );
        }
        if (goods.is_some() || new_preview.is_some()) && current.file.is_none() {
            return Err(usage(format!(
                "listing {} is a {} listing: --file and --preview are for a digital good",
                crate::output::short(&current.id),
                current.kind
            )));
        }
    }
    if no_images {
        patch.images = Some(Vec::new());
    } else if !pictures.is_empty() {
        patch.images = Some(files::upload_pictures(cx, pictures, keep_location)?);
    }
    let old_file = current.and_then(|c| c.file);
    if let Some(goods) = goods {
        let mut file = files::upload_goods(cx, goods)?;
        // A new file without a new preview keeps the old preview.
        if file.preview.is_none() {
            file.preview = old_file.as_ref().and_then(|f| f.preview);
        }
        patch.file = Some(file);
    } else if let (Some(bytes), Some(mut file)) = (new_preview, old_file) {
        file.preview = Some(cx.api.upload_blob(&bytes)?);
        patch.file = Some(file);
    }
    let off_the_map = patch.geohash.as_deref() == Some("");
    let l = output::signing(cx.json, || cx.api.update(&id, &patch))?;
    let updated = l.id;
    let coordinates = coordinates_note(patch.geohash.as_deref(), &updated);
    if cx.json {
        // As the API answers it, tagged `"type": "listing"`.
        output::json(&ObjectView::Listing(l.clone()))?;
    } else {
        outln!("Updated to revision {}: stored; {}.", l.revision, gossip(&l));
        if off_the_map {
            outln!("It is off the map now: a search by distance (--around) no longer finds it.");
        }
        output::listing(&l);
    }
    ahead_note(cx, &l);
    note_begun(cx, &begun);
    if let Some(line) = past_expiry(&l) {
        note!(cx.json, "{line}");
    }
    if let Some(line) = coordinates {
        note!(cx.json, "{line}");
    }
    // Offers already made stay on the revision they were made on: say so when the change is to
    // what they describe (a new price alone changes nothing for them).
    let threads = cx.api.threads().map(|page| page.threads).unwrap_or_default();
    let open_here = || threads.iter().filter(|t| t.current_listing == Some(updated) && t.awaiting.is_some());
    // Split by whose move it is: the owner's own counters await the other party, who may
    // accept them as they stand (a trial's note told the owner to accept or counter those).
    let (open, theirs): (Vec<_>, Vec<_>) = open_here()
        .filter(|t| output::changes_what_it_describes(&t.listing_changed))
        .partition(|t| t.awaiting == Some(haggle_node::api::types::Party::Me));
    let open: Vec<String> = open.iter().map(|t| output::short(&t.thread)).collect();
    let theirs: Vec<String> = theirs
        .iter()
        .filter(|t| {
            t.state == haggle_node::api::types::ThreadState::Countered
                && t.proposed_by == haggle_node::api::types::Party::Me
        })
        .map(|t| output::short(&t.thread))
        .collect();
    // Open dates moved off nights already booked: those bookings are deals and stand, which the
    // calendar's month lines no longer show (a trial's host shrank the open dates past three
    // stays with no word).
    if patch.calendar.is_some()
        && let Some(calendar) = &l.calendar
    {
        let open: Vec<haggle_protocol::calendar::DateRange> =
            calendar.open.iter().filter_map(|r| r.parse().ok()).collect();
        let outside: Vec<&str> = calendar
            .booked
            .iter()
            .filter(|b| {
                b.parse::<haggle_protocol::calendar::DateRange>()
                    .is_ok_and(|b| !open.iter().any(|o| b.within(o)))
            })
            .map(String::as_str)
            .collect();
        if !outside.is_empty() {
            note!(
                cx.json,
                "{} outside the open dates now ({}): {} and {} (haggle deals lists them; calling one off takes its guest's cancel too, or yours alone once a payment request has waited {} unpaid: haggle cancel DEAL).",
                if outside.len() == 1 { "a booking lies" } else { "bookings lie" },
                outside.join(", "),
                if outside.len() == 1 { "it is a deal" } else { "they are deals" },
                if outside.len() == 1 { "stands" } else { "stand" },
                super::deal::pay_within()
            );
        }
    }
    // A calendar given to a listing with open offers that name no nights: a deal from one
    // would book none, so the node refuses it without --as-offered; say so now.
    if patch.calendar.is_some() && l.calendar.is_some() {
        // Those awaiting the owner: its own counters in such threads are the other party's to
        // answer.
        let undated: Vec<String> = open_here()
            .filter(|t| t.terms.dates.is_none() && t.awaiting == Some(haggle_node::api::types::Party::Me))
            .map(|t| output::short(&t.thread))
            .collect();
        if !undated.is_empty() {
            note!(
                cx.json,
                "{} name{} no nights: a deal from {} would book none. Decline {} (haggle decline THREAD), and the \
                 other party can book nights (haggle book {} --from ... --to ...); or accept with --as-offered for \
                 a deal outside the calendar: {}.",
                output::count(undated.len(), "open offer"),
                if undated.len() == 1 { "s" } else { "" },
                if undated.len() == 1 { "it" } else { "one" },
                if undated.len() == 1 { "it" } else { "them" },
                output::short(&updated),
                undated.join(", ")
            );
        }
    }
    if !open.is_empty() {
        note!(
            cx.json,
            "{} made on an earlier revision {} on what it said: accepting or countering {} takes --as-offered \
             (or decline, and the other party can offer again on the listing as it is now): {}.",
            output::count(open.len(), "open offer"),
            if open.len() == 1 { "stands" } else { "stand" },
            if open.len() == 1 { "it" } else { "them" },
            open.join(", ")
        );
    }
    if !theirs.is_empty() {
        note!(
            cx.json,
            "{} of yours on an earlier revision {} the other party's answer: accepted, {} a deal on what that revision said (withdraw {} to offer on the listing as it is now): {}.",
            output::count(theirs.len(), "counter"),
            if theirs.len() == 1 { "awaits" } else { "await" },
            if theirs.len() == 1 { "it is" } else { "each is" },
            if theirs.len() == 1 { "it" } else { "one" },
            theirs.join(", ")
        );
    }
    Ok(())
}

pub fn renew(cx: &Context<'_>, id: &str, expires: Option<Duration>) -> Result<()> {
    // The lifetime runs from now: say so when that ends the listing sooner than before.
    let before = super::aside(cx.api.listing(id))?.map(|l| l.expires_at);
    let l = cx.api.renew(id, &RenewRequest { expires_in: expires.map(|d| d.as_secs()) })?;
    let now = output::now_ms();
    let expires_at = l.expires_at;
    if cx.json {
        // As the API answers it, tagged `"type": "listing"`.
        output::json(&ObjectView::Listing(l.clone()))?;
    } else {
        // A renewal is a new revision, with a new id (the old one still finds the listing).
        outln!(
            "Renewed {} ({}, revision {}): {}; {}.",
            l.title,
            output::short(&l.id),
            l.revision,
            output::expiry(l.expires_at, now),
            gossip(&l)
        );
    }
    ahead_note(cx, &l);
    brief_note(cx, l.created_at, l.expires_at, &l.id);
    // As `update` says it (from a trial: a renewal left a cabin's calendar open past its end,
    // unsaid).
    if let Some(line) = past_expiry(&l) {
        note!(cx.json, "{line}");
    }
    // Only when it reads sooner (a lifetime given: without one a renewal keeps what is left): "in 30 days" both times is no news (a listing dated ahead ends
    // a little sooner once renewed from the clock's now).
    let sooner = |b: &u64| *b > expires_at && output::relative(*b, now) != output::relative(expires_at, now);
    if let Some(before) = before.filter(sooner) {
        note!(
            cx.json,
            "it was to expire {}; a renewal's --expires counts from now, so it now ends sooner. Renew again with a longer --expires to undo that.",
            output::relative(before, now)
        );
    }
    Ok(())
}

pub fn retract(cx: &Context<'_>, id: &str) -> Result<()> {
    let l = cx.api.retract(id)?;
    if cx.json {
        // As the API answers it, tagged `"type": "listing"`.
        return output::json(&ObjectView::Listing(l));
    }
    // Named as the kind takes them (a trial's campaign with pledges read "offers").
    let open = match l.kind {
        haggle_protocol::ListingKind::Crowdfund => "any pledges on it ended (nothing is owed)",
        haggle_protocol::ListingKind::Auction => "any bids on it ended",
        _ => "any open offers on it ended",
    };
    outln!("Retracted {}: closed here, and {open}; {}.", l.title, gossip(&l));
    // A retraction ends offers, not deals: a booked stay or a sale agreed still binds both.
    let standing: Vec<String> = cx
        .api
        .deals()
        .map(|page| page.deals)
        .unwrap_or_default()
        .iter()
        .filter(|d| d.current_listing == Some(l.id) || d.listing == l.id)
        .filter(|d| !matches!(d.stage.as_str(), "completed" | "cancelled"))
        .map(|d| output::short(&d.id))
        .collect();
    if !standing.is_empty() {
        note!(
            cx.json,
            "{} on it still {}: {}. A retraction ends offers, not deals; if one is off, call it off with the other party (haggle cancel ID: it is off once both sign).",
            output::count(standing.len(), "deal"),
            if standing.len() == 1 { "stands" } else { "stand" },
            standing.join(", ")
        );
    }
    Ok(())
}

pub fn mine(cx: &Context<'_>, args: &ListingsArgs) -> Result<()> {
    // Checked as a search checks it, before the node is asked (it checks too).
    if let Some(category) = &args.category
        && !haggle_protocol::limits::is_category_path(category.to_lowercase().trim_matches('/'))
    {
        return Err(usage(format!("{}", haggle_node::service::SearchError::BadCategory(category.clone()))));
    }
    let page = cx.api.my_listings(&params(args))?;
    if cx.json {
        // As the API answers it.
        return output::json(&page);
    }
    let empty = match (page.held, page.total) {
        (0, _) => "You have no listings yet: publish one with `haggle publish`.".to_owned(),
        (held, 0) => {
            format!("None of your {} is of that kind, state or category.", output::count(held, "listing"))
        }
        (_, total) => format!("No listings past the first {total} (--offset 0 starts from the first)."),
    };
    output::listings(
        &page.listings,
        &empty,
        haggle_protocol::geo::DistanceUnit::Metric,
        output::Whose::Owners,
    );
    if let Some(line) = output::page_line(page.offset, page.listings.len(), page.total) {
        outln!("{}", output::dim(&line));
    }
    let ahead: Vec<String> =
        page.listings.iter().filter(|l| dated_ahead(l)).map(|l| output::short(&l.id)).collect();
    if !ahead.is_empty() {
        note!(
            cx.json,
            "{} {} dated more than 5 minutes ahead of this node's clock (signed while it was ahead, or following a revision that was), so peers refuse {} until their clocks reach that time: {}. To sell now, retract and publish again (`haggle retract ID`, then `haggle publish --from ID`: the new listing is dated now).",
            output::count(ahead.len(), "listing"),
            if ahead.len() == 1 { "is" } else { "are" },
            if ahead.len() == 1 { "it" } else { "them" },
            ahead.join(", ")
        );
    }
    Ok(())
}

/// What `haggle listings` with `args` asks the node for.
fn params(args: &ListingsArgs) -> ListingsParams {
    ListingsParams {
        kind: args.kind.map(|k| k.0),
        state: args.state.map(|s| s.0),
        category: args.category.clone(),
        limit: args.limit.map(usize::from),
        offset: args.offset,
    }
}

/// Whether the owner's listing `l` is dated further ahead of this clock than peers take: each
/// revision is dated after the one it replaces, so one signed while the clock was ahead keeps
/// every later one out of the market until then, though the clock was set right since.
fn dated_ahead(l: &ListingView) -> bool {
    let allowed = haggle_protocol::limits::MAX_CLOCK_SKEW_MS;
    l.mine && l.state != ListingState::Closed && l.created_at > output::now_ms().saturating_add(allowed)
}

/// After a new revision of the owner's listing: a note when it is dated too far ahead for peers
/// to take (see [`dated_ahead`]), and what to do.
fn ahead_note(cx: &Context<'_>, l: &ListingView) {
    if dated_ahead(l) {
        note!(
            cx.json,
            "this revision is dated {}, more than 5 minutes ahead of this node's clock: it follows a revision signed while the clock was ahead, and peers refuse it, and every later one, until their clocks reach that time. To sell it now, retract it and publish it again (`haggle retract {}`, then `haggle publish --from {}`).",
            output::relative(l.created_at, output::now_ms()),
            output::short(&l.id),
            output::short(&l.id)
        );
    }
}

pub fn show(cx: &Context<'_>, id: &str, exact: bool, images: Option<&std::path::Path>) -> Result<()> {
    let object = if exact { cx.api.object_exact(id)? } else { cx.api.object(id)? };
    if let Some(dir) = images {
        let ObjectView::Listing(l) = &object else {
            let what = match &object {
                ObjectView::Thread(_) => "an offer thread",
                ObjectView::Deal(_) => "a deal",
                ObjectView::Feedback(_) => "a rating",
                _ => "a conversation",
            };
            return Err(usage(format!(
                "`{id}` names {what}, not a listing: --images shows a listing's pictures"
            )));
        };
        files::images_dir(dir)?;
        if !cx.json {
            // The listing first: it is here, whatever happens to the pictures.
            output::listing(l);
            outln!();
        }
        let saved = files::save_pictures(cx, l, dir)?;
        if cx.json {
            let paths: Vec<String> = saved.iter().map(|p| p.display().to_string()).collect();
            return output::json(&serde_json::json!({ "listing": l, "saved": paths }));
        }
        let files = if l.images.is_empty() { "file" } else { "picture" };
        match saved.len() {
            0 => outln!("This listing has no pictures."),
            1 => outln!("Saved 1 {files}, checked against its hash:"),
            n if l.images.len() == n => outln!("Saved {n} pictures, each checked against its hash:"),
            n => outln!("Saved {n} files, each checked against its hash:"),
        }
        for path in &saved {
            outln!("  {}", path.display());
        }
        return Ok(());
    }
    if cx.json {
        return output::json(&object);
    }
    match &object {
        ObjectView::Listing(l) => output::listing(l),
        ObjectView::Thread(t) => output::thread(t),
        ObjectView::Deal(d) => super::deal::print(cx.api, d),
        ObjectView::Feedback(f) => super::reputation::print_feedback(f),
        ObjectView::Conversation(c) => super::messages::print(c, false),
    }
    Ok(())
}

/// What happened to the revision on the network, in words.
fn gossip(l: &haggle_node::api::types::ListingView) -> &'static str {
    match l.gossip {
        Some(GossipState::Queued) => "no peers yet: it goes out as soon as one is found",
        Some(GossipState::Stopping) => "the node is stopping: it goes out when the node runs again",
        _ => "sent to the network",
    }
}

/// A text file's text as a description: without the byte-order mark some editors put first, and
/// with Windows' line ends as line ends (from an international trial: a file saved on Windows was
/// refused for a control character, and a mark no one sees was signed into a description).
fn file_text(text: String) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    if text.contains('\r') { text.replace("\r\n", "\n") } else { text.to_owned() }
}

/// The listing fields given on the command line (the description read from its file).
/// `publishing`: a new listing, whose calendar needs its open dates (an update keeps what it is
/// not given).
fn patch(f: ListingFields, publishing: bool) -> Result<ListingPatch> {
    let description = match (f.description, f.description_file) {
        (Some(text), _) => Some(text),
        (None, Some(path)) => {
            let limit = haggle_protocol::limits::MAX_DESCRIPTION_BYTES as u64;
            let rule = format!("a description is at most {limit} bytes");
            let bytes = super::files::read_bounded(&path, limit, "description file", &rule)?;
            let text = String::from_utf8(bytes)
                .map_err(|_| usage(format!("description file {} is not text in UTF-8", path.display())))?;
            Some(file_text(text))
        }
        (None, None) => None,
    };
    let settings = f.min_stay.is_some() || f.max_stay.is_some() || f.instant || f.no_instant;
    if publishing && f.available.is_empty() && settings {
        return Err(usage(
            "--min-stay, --max-stay and --instant go with the calendar: add --available FROM..TO",
        ));
    }
    if publishing && f.no_instant {
        return Err(usage(
            "--no-instant is for haggle update (a new calendar books by hand unless --instant)",
        ));
    }
    let calendar = (!f.available.is_empty() || settings).then_some(CalendarDraft {
        open: f.available,
        min_stay: f.min_stay,
        max_stay: f.max_stay,
        instant: match (f.instant, f.no_instant) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ if publishing => Some(false),
            _ => None,
        },
    });
    Ok(ListingPatch {
        title: None,
        description,
        category: f.category,
        tags: (!f.tags.is_empty() || f.no_tags).then_some(f.tags),
        price: f.price,
        currency: f.currency,
        per: f.per.map(|p| p.0),
        quantity: f.qty,
        location: f.location,
        geohash: f.geohash,
        payment: (!f.payment.is_empty() || f.no_pay).then_some(f.payment),
        delivery: f.delivery,
        calendar,
        images: None,
        file: None,
        any_currency: f.any_currency,
    })
}

/// A note for an auction whose anti-sniping window is longer than the auction itself (`--ends
/// 45s` with the default 10 minutes): its first bid moves the end to a whole window after it.
fn window_longer_than_auction(a: &haggle_node::api::types::AuctionInfo, published: u64) -> Option<String> {
    // Whole seconds, as `--ends` and `--window` are given.
    let runs = a.scheduled_end.saturating_sub(published) / 1000;
    let window = u64::from(a.window_secs);
    (window > runs).then(|| {
        format!(
            "the anti-sniping window ({}) is longer than the auction ({}): a bid moves the end to {} after it; --window sets a shorter one (--window 0s turns it off)",
            super::auction::left(window * 1000, 0),
            super::auction::left(runs * 1000, 0),
            super::auction::left(window * 1000, 0)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(line: &[&str]) -> ListingsArgs {
        match crate::args::Cli::try_parse_from(line).expect("parsed").command {
            crate::args::Command::Listings(args) => args,
            _ => unreachable!("listings"),
        }
    }

    #[test]
    fn a_description_file_from_windows_reads_as_its_text() {
        assert_eq!(file_text("\u{feff}Beschreibung\r\nZeile 2\r\n".to_owned()), "Beschreibung\nZeile 2\n");
        assert_eq!(file_text("a\rb".to_owned()), "a\rb", "a lone carriage return is the node's to refuse");
        assert_eq!(file_text("plain\n".to_owned()), "plain\n");
    }

    /// From a trial: a shop with 50 listings could only print them all (`--limit` was refused as
    /// "takes no arguments"). The node picks and pages them (its tests check how).
    #[test]
    fn listings_options_ask_the_node_for_a_kind_state_category_and_page() {
        let asked = |line: &[&str]| params(&args(line)).pairs();
        assert!(asked(&["haggle", "listings"]).is_empty());
        let all = asked(&[
            "haggle",
            "listings",
            "--kind",
            "Sell",
            "--state",
            "ended",
            "--category",
            "Music/",
            "--limit",
            "20",
            "--offset",
            "40",
        ]);
        let expected =
            [("kind", "sell"), ("state", "ended"), ("category", "Music/"), ("limit", "20"), ("offset", "40")];
        assert_eq!(all, expected.map(|(k, v)| (k, v.to_owned())));
        // The words people use for how a listing ended are its closing (a trial typed `sold`).
        for word in ["sold", "Sold", "retracted", "given-away", "found"] {
            let asked = asked(&["haggle", "listings", "--state", word]);
            assert_eq!(asked, [("state", "closed".to_owned())], "{word}");
        }
        assert_eq!(asked(&["haggle", "listings", "--state", "open"]), [("state", "active".to_owned())]);
        assert!(crate::args::Cli::try_parse_from(["haggle", "listings", "--state", "bought"]).is_err());
    }

    /// From a trial: `--geohash 3.717,51.054` (longitude first) put a listing marked Ghent in
    /// the Indian Ocean, unsaid. How the coordinates were read is told, with the swap.
    #[test]
    fn coordinates_typed_are_told_as_read_with_the_swap() {
        let id = haggle_protocol::ObjectId::from_bytes([7; 32]);
        let said = super::coordinates_note(Some("3.717,51.054"), &id).expect("a note");
        assert_eq!(
            said,
            "--geohash 3.717,51.054 was read as latitude 3.717 (north), longitude 51.054 (east); if your map gave the longitude first: haggle update 0707070707 --geohash 51.054,3.717"
        );
        // No swap past 90 degrees; a south-western place; a geohash or nothing says nothing.
        let said = super::coordinates_note(Some("-33.9, -118.4"), &id).expect("a note");
        assert!(said.ends_with("latitude -33.9 (south), longitude -118.4 (west)"), "{said}");
        assert_eq!(super::coordinates_note(Some("u14dkw"), &id), None);
        assert_eq!(super::coordinates_note(None, &id), None);
    }
}
