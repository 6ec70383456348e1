//! The owner's notes: free text to the other key of a listing or a thread, outside the terms (a
//! question before an offer, a pick-up arranged after a deal). Signed, stored, and sent like a
//! negotiation message (directly, by the outbox, or sealed in a mailbox); read per
//! conversation, with what the owner has read.

use haggle_protocol::note::{About, Conversation, Note};
use haggle_protocol::{Body, Object, ObjectId, PublicKey, Timestamp};
use haggle_storage::ConversationEntry;

use super::{Conflict, Effect, Followups, Service, ServiceError, views};
use crate::api::types::{
    ConversationView, ConversationsPage, ListingMessages, NodeEvent, NoteView, Party, SubjectView,
};

impl Service {
    /// Sends `message` to the other key of what `given` names: a listing (a question to its
    /// author), a thread or a deal (to the other party), or a note (in its conversation).
    pub fn send_note(&self, given: &str, message: String) -> Result<Effect, ServiceError> {
        let conversation = self.conversation_named(given, SEND_TO)?;
        let to = conversation.other(&self.me()).expect("a conversation named is the owner's");
        if let Some(refusal) = self.send_refusal(&conversation)? {
            return Err(refusal.into());
        }
        // Storing it marks what came before read (an answer is written having read it).
        let object =
            self.sign(Body::Note(Note { about: conversation.about, to, message }), Timestamp::now())?;
        self.ingest_own(&object)?;
        Ok(Effect { object, then: Followups { deliver: vec![to], ..Followups::default() } })
    }

    /// Why a note of the owner's in `conversation` would not go now, if it would not (a
    /// conversation's view says so instead of inviting an answer).
    fn send_refusal(&self, conversation: &Conversation) -> Result<Option<Conflict>, ServiceError> {
        let me = self.me();
        // Every conversation held or named has the owner as one of its keys; if one did not,
        // there would be nobody to refuse.
        let Some(to) = conversation.other(&me) else { return Ok(None) };
        // About a listing, or in a thread that ended without a deal, their answer would be
        // refused (`blocked_refusal`); in an open thread or a deal, messages go on both ways.
        let closed = match conversation.about {
            About::Listing(_) => true,
            About::Thread(thread) => self.ended_without_a_deal(&thread),
        };
        if closed && self.store.is_blocked(&to) {
            return Ok(Some(Conflict::NoteToBlocked(to)));
        }
        // An offer of the owner's that the other node refused for good opened nothing there: a
        // message about it would be refused at every try.
        if let About::Thread(thread) = conversation.about
            && let Some(offer) = self.store.get(&thread)?.filter(|o| o.author() == me)
            && let Some(why) = self.store.offer_refused(&offer)?
        {
            return Ok(Some(Conflict::OfferRefused { thread, why }));
        }
        Ok(None)
    }

    /// The owner's messages about `listing`: with its author, or, about the owner's own
    /// listing, with everyone who wrote (None when there are none).
    pub(super) fn listing_messages(&self, listing: &Object) -> Result<Option<ListingMessages>, ServiceError> {
        let Some(key) = listing.listing_key() else { return Ok(None) };
        let me = self.me();
        let held = if key.author == me {
            self.store.conversations_about(&key)?
        } else {
            let about = Conversation::new(About::Listing(key), me, key.author);
            self.store.conversation(&about)?.into_iter().collect()
        };
        let held: Vec<ConversationEntry> = held.into_iter().filter(|e| !e.notes.is_empty()).collect();
        if held.is_empty() {
            return Ok(None);
        }
        Ok(Some(ListingMessages {
            conversations: held.len(),
            notes: held.iter().map(|e| e.notes.len()).sum(),
            unread: held.iter().map(|e| self.unread_news(e)).sum(),
            conversation: match &held[..] {
                [one] => one.first_arrived(),
                _ => None,
            },
        }))
    }

    /// The notes of `entry` the owner has not read that count as news: none in questions about
    /// one of the owner's listings from a key it blocked (a trial's spammer kept `status` saying
    /// 20 unread after the block); messages in a thread or deal with that key still count, as
    /// they go on both ways.
    fn unread_news(&self, entry: &ConversationEntry) -> usize {
        let me = self.me();
        let blocked_question = matches!(entry.conversation.about, About::Listing(key) if key.author == me)
            && entry.conversation.other(&me).is_some_and(|k| self.store.is_blocked(&k));
        if blocked_question { 0 } else { entry.unread(&me) }
    }

    /// The owner's conversations, the most recent first, each with its newest note.
    pub fn conversations(&self) -> Result<ConversationsPage, ServiceError> {
        let mut page = ConversationsPage { conversations: Vec::new(), unread: 0 };
        for entry in self.store.conversations()? {
            if entry.notes.is_empty() {
                continue;
            }
            // The newest note only is read and shown; the counts come from the index.
            let mut view = self.conversation_of(&entry, entry.notes.len() - 1)?;
            view.unread = self.unread_news(&entry);
            page.unread += view.unread;
            page.conversations.push(view);
        }
        Ok(page)
    }

    /// The conversation `given` names (as [`Service::send_note`] takes it), every note in it;
    /// with `mark`, its notes count as read from now on (the answer still says which were not).
    pub fn conversation_view(&self, given: &str, mark: bool) -> Result<ConversationView, ServiceError> {
        let conversation = self.conversation_named(given, "conversation")?;
        let Some(entry) = self.store.conversation(&conversation)?.filter(|e| !e.notes.is_empty()) else {
            return Err(
                Conflict::NoNotes { given: given.to_owned(), with: conversation.other(&self.me()) }.into()
            );
        };
        let view = self.conversation_of(&entry, 0)?;
        if mark && view.unread > 0 {
            // Up to the last that arrived of those shown (one arriving meanwhile stays new).
            self.store.mark_read(&conversation, entry.last_arrival())?;
        }
        Ok(view)
    }

    /// The conversation of the owner's note just sent, naming it (`sent`).
    pub fn effect_conversation(&self, effect: &Effect) -> Result<ConversationView, ServiceError> {
        let view = self.conversation_view(&effect.object.id().to_hex(), false)?;
        Ok(ConversationView { sent: Some(effect.object.id()), ..view })
    }

    /// The event for a note from the other party.
    pub(super) fn note_event(&self, object: &Object) -> Option<NodeEvent> {
        let Body::Note(note) = object.body() else { return None };
        let subject = self.subject(&note.about).ok()?;
        Some(NodeEvent::NoteReceived {
            id: object.id(),
            from: object.author(),
            about: subject.describe(ObjectId::fmt_short),
            message: note.message.clone(),
        })
    }

    /// The conversation `given` names, between the owner and another key (`what`: what was
    /// looked for, as a "no ... matches" error says it).
    fn conversation_named(&self, given: &str, what: &'static str) -> Result<Conversation, ServiceError> {
        let me = self.me();
        // A deal between two other people, known here by its ratings, is said to be one (found
        // in a trial: `show` said so, `message` only "no ... matches").
        let id = self.resolve_or_rated(given, what)?;
        let object = match self.store.get(&id)? {
            Some(object) => object,
            // An earlier revision of a listing, past the history kept: still its listing.
            None => match self.store.alias(&id)?.and_then(|key| self.store.listing(&key).transpose()) {
                Some(listing) => listing?,
                None => return Err(ServiceError::not_found(what, given)),
            },
        };
        if let Body::Note(note) = object.body() {
            return Ok(Conversation::of(object.author(), note));
        }
        if let Some(key) = object.listing_key() {
            if key.author != me {
                return Ok(Conversation::new(About::Listing(key), me, key.author));
            }
            // The owner's own listing: the one conversation about it, if there is only one.
            let held = self.store.conversations_about(&key)?;
            let [one] = &held[..] else {
                // Each named as its other party is: by the owner's name for them, if any.
                // With none, the threads on it (a few), whose conversations a message may go to.
                // Open ones with keys not blocked first, the most recently active first, of
                // a bounded look (from a review: the first three in the index were any three).
                let mut threads = Vec::new();
                if held.is_empty() {
                    let mut found = Vec::new();
                    for id in self.store.thread_ids_on(&key, 50)? {
                        let Some(t) = self.store.thread(&id)? else { continue };
                        let closed = t.view.state.is_final() || self.store.is_blocked(&t.view.offerer);
                        let last = t.messages.iter().map(Object::created_at).max();
                        found.push((closed, std::cmp::Reverse(last), id, t.view.offerer));
                    }
                    found.sort();
                    threads.extend(found.into_iter().take(3).map(|(_, _, id, offerer)| (id, offerer)));
                }
                let names =
                    if held.is_empty() && threads.is_empty() { Vec::new() } else { self.store.names()? };
                let name_of = |key: &PublicKey| names.iter().find(|n| n.key == *key).map(|n| n.name.clone());
                let threads = threads.into_iter().map(|(id, with)| (id, with, name_of(&with))).collect();
                return Err(Conflict::WhichConversation {
                    threads,
                    listing: object.id(),
                    conversations: held
                        .iter()
                        .filter_map(|e| {
                            let other = e.conversation.other(&me)?;
                            Some((e.first_arrived()?, other, name_of(&other)))
                        })
                        .collect(),
                }
                .into());
            };
            return Ok(one.conversation);
        }
        // A deal step, or a rating of a deal of the owner's, names the deal, whose thread is
        // its offer's.
        let thread = match object.body() {
            Body::Step(step) => self.store.deal(&step.deal)?.map(|d| d.offer().id()),
            Body::Feedback(f) => match f.proof_unverified() {
                Some(proof) => self.store.deal(&proof.deal)?.map(|d| d.offer().id()),
                None => None,
            },
            _ => object.thread_id(),
        };
        if let Some(thread) = thread {
            let record = self.store.thread(&thread)?.ok_or_else(|| ServiceError::not_found(what, given))?;
            let (a, b) = (record.view.offerer, record.view.listing_author);
            let other = if a == me {
                b
            } else if b == me {
                a
            } else {
                return Err(Conflict::NotYourThread(thread).into());
            };
            return Ok(Conversation::new(About::Thread(thread), me, other));
        }
        Err(ServiceError::WrongKind {
            given: given.to_owned(),
            is: match object.kind() {
                haggle_protocol::ObjectKind::Feedback => "a rating of a deal between two other people",
                _ => "neither a listing, a thread, a deal nor a message",
            },
            wanted: "what a message can be about",
            hint: "haggle messages lists your conversations; haggle search finds listings, haggle offers and haggle deals list your threads and deals",
        })
    }

    /// What a conversation is about, as the API shows it.
    fn subject(&self, about: &About) -> Result<SubjectView, ServiceError> {
        let me = self.me();
        Ok(match about {
            About::Listing(key) => {
                let current = self.store.listing(key)?;
                SubjectView {
                    kind: "listing".into(),
                    id: current.as_ref().map(Object::id),
                    title: current.as_ref().and_then(title),
                    deal: None,
                    mine: key.author == me,
                    state: current.as_ref().and_then(|l| l.listing()).map(views::listing_state),
                    dates: None,
                }
            }
            About::Thread(thread) => {
                let record = self.store.thread(thread)?;
                SubjectView {
                    kind: "thread".into(),
                    id: Some(*thread),
                    title: record.as_ref().and_then(|r| r.listing.as_ref()).and_then(title),
                    deal: record.as_ref().and_then(|r| r.view.deal_id()),
                    mine: record.as_ref().is_some_and(|r| r.view.listing_author == me),
                    state: None,
                    dates: record.and_then(|r| r.view.terms.dates).map(|d| d.to_string()),
                }
            }
        })
    }

    /// A conversation as the API shows it, with its notes from the `from`-th on (in date order).
    fn conversation_of(
        &self,
        entry: &ConversationEntry,
        from: usize,
    ) -> Result<ConversationView, ServiceError> {
        let me = self.me();
        let shown = entry.notes.get(from..).unwrap_or_default();
        let mut notes = Vec::with_capacity(shown.len());
        for (r, n) in self.store.notes(shown)? {
            let Body::Note(note) = n.body() else { continue };
            let mine = n.author() == me;
            let outbox = if mine { self.store.outbox_entry(&n.id())? } else { None };
            notes.push(NoteView {
                id: n.id(),
                from: if mine { Party::Me } else { Party::Them },
                created_at: n.created_at().as_millis(),
                message: note.message.clone(),
                read: entry.is_read(&r, &me),
                delivery: outbox.as_ref().map(|e| e.state),
                sealed: outbox.as_ref().is_some_and(haggle_storage::OutboxEntry::travels_sealed),
                delivery_error: outbox.and_then(|e| {
                    (e.state != haggle_storage::DeliveryState::Delivered).then_some(e.last_error?)
                }),
            });
        }
        let with: PublicKey = entry.conversation.other(&me).unwrap_or(entry.conversation.keys[0]);
        Ok(ConversationView {
            sent: None,
            // The first to arrive here: it stays the conversation's id whatever comes later.
            id: entry.first_arrived().expect("a conversation held has a note"),
            about: self.subject(&entry.conversation.about)?,
            with,
            opened_by_me: entry.opener == me,
            count: entry.notes.len(),
            unread: entry.unread(&me),
            notes,
            closed: self.send_refusal(&entry.conversation)?.map(|c| c.to_string()),
        })
    }
}

/// What a send looks for, as a "no ... matches" error says it.
const SEND_TO: &str = "listing, thread, deal or message";

fn title(listing: &Object) -> Option<String> {
    listing.listing().map(|l| l.title.clone())
}

#[cfg(test)]
mod tests;
