//! JSON views of stored objects, as the API returns them. Ids are lowercase hex; keys are
//! PeerIds; times are unix milliseconds; prices carry both minor units and a display string.

use serde_json::{Value, json};

use haggle_protocol::{Body, Deal, ListingStatus, Object, Price, PublicKey, Terms, Timestamp};
use haggle_storage::{Store, StoreError, ThreadRecord};

fn price(p: &Price) -> Value {
    json!({
        "amount": p.amount,
        "currency": p.currency.as_str(),
        "per": p.per.map(|x| x.as_str()),
        "display": p.to_string(),
    })
}

fn terms(t: &Terms) -> Value {
    json!({ "quantity": t.quantity, "price": price(&t.price), "expires_at": t.expires_at.as_millis() })
}

/// A listing revision with its state as this node sees it.
pub fn listing(store: &Store, object: &Object, me: &PublicKey) -> Result<Value, StoreError> {
    let Some(l) = object.listing() else { return Ok(Value::Null) };
    let key = object.listing_key().expect("a listing");
    let now = Timestamp::now();
    let state = match l.status {
        ListingStatus::Closed => "closed",
        ListingStatus::Active if l.expires_at <= now => "expired",
        ListingStatus::Active => "active",
    };
    let remaining = if object.author() == *me { store.remaining_quantity(&key)? } else { None };
    Ok(json!({
        "id": object.id().to_hex(),
        "key": key.to_string(),
        "author": object.author().to_string(),
        "mine": object.author() == *me,
        "revision": l.revision,
        "kind": l.kind.as_str(),
        "state": state,
        "title": l.title,
        "description": l.description,
        "category": l.category,
        "tags": l.tags,
        "price": l.price.as_ref().map(price),
        "quantity": l.quantity,
        "remaining": remaining,
        "location": l.location.text,
        "geohash": l.location.geohash,
        "payment": l.payment,
        "delivery": l.delivery,
        "created_at": object.created_at().as_millis(),
        "expires_at": l.expires_at.as_millis(),
    }))
}

/// A negotiation thread from `me`'s side, with every message and its delivery state.
pub fn thread(store: &Store, t: &ThreadRecord, me: &PublicKey) -> Result<Value, StoreError> {
    let v = &t.view;
    let role = if v.listing_author == *me { "listing author" } else { "offerer" };
    let other = if v.listing_author == *me { v.offerer } else { v.listing_author };
    let mut messages = Vec::new();
    for m in &t.messages {
        let delivery =
            if m.author() == *me { store.outbox_entry(&m.id())?.map(|e| e.state.as_str()) } else { None };
        let (text, message_terms) = match m.body() {
            Body::Offer(o) => (o.message.clone(), Some(terms(&o.terms))),
            Body::Counter(c) => (c.message.clone(), Some(terms(&c.terms))),
            Body::Decline(d) => (d.message.clone(), None),
            Body::Withdraw(w) => (w.message.clone(), None),
            _ => (String::new(), None),
        };
        messages.push(json!({
            "id": m.id().to_hex(),
            "kind": m.kind().as_str(),
            "from": if m.author() == *me { "me" } else { "them" },
            "created_at": m.created_at().as_millis(),
            "message": text,
            "terms": message_terms,
            "on_chain": v.chain.contains(&m.id()),
            "delivery": delivery,
        }));
    }
    let my_last = t.messages.iter().rev().find(|m| m.author() == *me);
    let delivery = match my_last {
        Some(m) => store.outbox_entry(&m.id())?.map(|e| e.state.as_str()),
        None => None,
    };
    let listing = t.listing.as_ref().and_then(|l| l.listing());
    Ok(json!({
        "thread": v.thread.to_hex(),
        "listing": t.listing.as_ref().map(|l| l.id().to_hex()),
        "listing_title": listing.map(|l| l.title.clone()),
        "role": role,
        "counterparty": other.to_string(),
        "state": v.state.as_str(),
        "terms": terms(&v.terms),
        "proposed_by": if v.proposer == *me { "me" } else { "them" },
        "awaiting": if v.state.is_final() { Value::Null } else if v.proposer == *me { json!("them") } else { json!("me") },
        "delivery": delivery,
        "deal": (v.state == haggle_protocol::ThreadState::Accepted).then(|| v.head().to_hex()),
        "messages": messages,
        "updated_at": t.messages.iter().map(|m| m.created_at().as_millis()).max(),
    }))
}

/// A deal, with its full signed encoding for offline verification.
pub fn deal(d: &Deal) -> Value {
    let l = d.listing().listing();
    json!({
        "id": d.id().to_hex(),
        "thread": d.offer().id().to_hex(),
        "listing": d.listing().id().to_hex(),
        "title": l.map(|l| l.title.clone()),
        "seller": d.seller().to_string(),
        "buyer": d.buyer().to_string(),
        "terms": terms(d.terms()),
        "made_at": d.made_at().as_millis(),
        "signed": data_encoding::HEXLOWER.encode(&d.encode()),
    })
}

/// Any object: a listing's current view, or the thread a negotiation message belongs to.
pub fn object(store: &Store, object: &Object, me: &PublicKey) -> Result<Value, StoreError> {
    if object.kind().is_public() {
        let mut v = listing(store, object, me)?;
        v["type"] = json!("listing");
        return Ok(v);
    }
    let thread_id = match object.body() {
        Body::Offer(_) => object.id(),
        body => body.reply().map_or(object.id(), |r| r.thread),
    };
    let mut v = match store.thread(&thread_id)? {
        Some(t) => thread(store, &t, me)?,
        None => json!({}),
    };
    v["type"] = json!("thread");
    v["id"] = json!(object.id().to_hex());
    v["kind"] = json!(object.kind().as_str());
    Ok(v)
}
