//! Notes: free text between two people about a listing or a thread (see
//! `haggle_protocol::note`), kept per conversation, with what the owner has read.
//!
//! Every note a node holds has the owner as its author or its recipient (notes travel only to
//! their recipient), so the conversations here are the owner's. What one key can make a node
//! keep is bounded three ways, each checked against what this node holds:
//! - [`MAX_NOTES_PER_PARTY`] notes per party in one conversation;
//! - [`MAX_NOTES_IN_A_ROW`] notes from one side since the other side's last;
//! - [`MAX_UNANSWERED_CONVERSATIONS`] conversations a key opened with another that the other
//!   never answered.
//!
//! Each check reads an index, not the notes: a note's key carries its date and its value which
//! of the two keys wrote it, and the `U` index lists the conversations a pair (opener, other)
//! left unanswered, so a note costs a scan of its own conversation's keys (at most 400) and of
//! at most 8 index keys, whatever else the node holds.
//!
//! A conversation goes [`crate::THREAD_RETENTION`] after its last note, unless it is about a
//! thread this node still holds (a deal's thread is kept with the deal).

use haggle_protocol::note::{About, CONVERSATION_KEY_LEN, Conversation};
use haggle_protocol::{Body, Object, ObjectId, ObjectKind, PublicKey, Timestamp};

use crate::error::StoreError;
use crate::ingest::{Origin, Outcome, RejectReason, rejected};
use crate::keys;
use crate::store::{Store, decode_stored};

/// Notes one party may keep in one conversation: a long exchange about a pick-up is a few
/// dozen.
pub const MAX_NOTES_PER_PARTY: usize = 200;
/// Notes one side may send in a row, before the other side answers.
pub const MAX_NOTES_IN_A_ROW: usize = 20;
/// Conversations one key may have opened with another that the other never answered: a buyer
/// asking a seller about a few listings at once is far below it; a stranger writing about
/// every listing a seller has is stopped at it.
pub const MAX_UNANSWERED_CONVERSATIONS: usize = 8;

/// A conversation's record (`C` + the conversation): who opened it, whether the other side
/// answered, its last note's date, and how far the owner has read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConversationRecord {
    /// Which of the conversation's two keys wrote its first note held here (0 or 1).
    pub opener: u8,
    /// Whether the other key has written too.
    pub answered: bool,
    /// The newest note's date.
    pub last_at: Timestamp,
    /// The newest note the owner has read: its date and id (zeros: none).
    pub read: (Timestamp, ObjectId),
}

impl ConversationRecord {
    const LEN: usize = 1 + 1 + 8 + 8 + 32;

    fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[0] = self.opener;
        out[1] = u8::from(self.answered);
        out[2..10].copy_from_slice(&self.last_at.to_be_bytes());
        out[10..18].copy_from_slice(&self.read.0.to_be_bytes());
        out[18..].copy_from_slice(self.read.1.as_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let corrupt = || StoreError::Corrupt { what: "conversation record" };
        if bytes.len() != Self::LEN || bytes[0] > 1 {
            return Err(corrupt());
        }
        let at = |b: &[u8]| Timestamp(u64::from_be_bytes(b.try_into().expect("8 bytes")));
        Ok(ConversationRecord {
            opener: bytes[0],
            answered: bytes[1] != 0,
            last_at: at(&bytes[2..10]),
            read: (at(&bytes[10..18]), ObjectId::from_bytes(bytes[18..].try_into().map_err(|_| corrupt())?)),
        })
    }
}

/// One conversation as a reader sees it.
#[derive(Debug, Clone)]
pub struct ConversationEntry {
    /// What it is about and between whom.
    pub conversation: Conversation,
    /// The key that wrote its first note held here.
    pub opener: PublicKey,
    /// Whether the other key has written too.
    pub answered: bool,
    /// Its notes, oldest first.
    pub notes: Vec<Object>,
    /// The newest note the owner has read (`None`: none yet).
    pub read: Option<(Timestamp, ObjectId)>,
}

impl ConversationEntry {
    /// Notes not written by `me` and newer than what the owner read.
    pub fn unread(&self, me: &PublicKey) -> usize {
        self.notes.iter().filter(|n| n.author() != *me && self.read.is_none_or(|r| place(n) > r)).count()
    }
}

/// A note's place in its conversation: its date, then its id.
pub fn place(note: &Object) -> (Timestamp, ObjectId) {
    (note.created_at(), note.id())
}

fn note_key(conversation: &Conversation, at: Timestamp, id: &ObjectId) -> Vec<u8> {
    keys::key(keys::NOTE, &[&conversation.to_bytes(), &at.to_be_bytes(), id.as_bytes()])
}

fn conversation_key(conversation: &Conversation) -> Vec<u8> {
    keys::key(keys::CONVERSATION, &[&conversation.to_bytes()])
}

/// `U` + opener + the other key + the conversation: one the opener (key `opener_side` of the
/// two) opened that the other has not answered.
fn unanswered_key(conversation: &Conversation, opener_side: u8) -> Vec<u8> {
    let opener = conversation.keys[usize::from(opener_side)];
    let other = conversation.keys[1 - usize::from(opener_side)];
    keys::key(keys::UNANSWERED, &[opener.as_bytes(), other.as_bytes(), &conversation.to_bytes()])
}

impl Store {
    pub(crate) fn write_note(&self, object: &Object, origin: Origin) -> Result<Outcome, StoreError> {
        let id = object.id();
        let Body::Note(note) = object.body() else { unreachable!("called for notes") };
        let author = object.author();
        // Between the two keys the note is about: a listing's author and someone else, or a
        // thread's two parties.
        let parties = match &note.about {
            About::Listing(key) => {
                if key.author != author && key.author != note.to {
                    return Ok(rejected(Some(id), RejectReason::NotBetweenParties));
                }
                if self.head(key)?.is_none() {
                    return Ok(rejected(Some(id), RejectReason::UnknownSubject));
                }
                None
            }
            About::Thread(thread) => {
                let opening = self.get(thread)?.filter(|o| o.body().opening().is_some());
                let Some(opening) = opening else {
                    return Ok(rejected(Some(id), RejectReason::UnknownSubject));
                };
                Some([opening.author(), opening.body().recipient().expect("an opening has a recipient")])
            }
        };
        if parties.is_some_and(|p| !(p.contains(&author) && p.contains(&note.to))) {
            return Ok(rejected(Some(id), RejectReason::NotBetweenParties));
        }
        let conversation = Conversation::of(author, note);
        let side = u8::from(conversation.keys[1] == author);
        // Who wrote each note held, with its date, from the index alone (no note is read).
        let mut sides = Vec::new();
        for entry in self.db.scan_prefix(keys::key(keys::NOTE, &[&conversation.to_bytes()])) {
            let (k, v) = entry?;
            let at =
                k.get(1 + CONVERSATION_KEY_LEN..1 + CONVERSATION_KEY_LEN + 8).and_then(|b| b.try_into().ok());
            let (Some(at), [by]) = (at, &v[..]) else {
                return Err(StoreError::Corrupt { what: "note key" });
            };
            sides.push((Timestamp(u64::from_be_bytes(at)), *by));
        }
        let mine = sides.iter().filter(|(_, by)| *by == side).count();
        if mine >= MAX_NOTES_PER_PARTY {
            return Ok(rejected(Some(id), RejectReason::NotesFull { max: MAX_NOTES_PER_PARTY }));
        }
        let their_last = sides.iter().filter(|(_, by)| *by != side).map(|(at, _)| *at).max();
        let in_a_row =
            sides.iter().filter(|(at, by)| *by == side && their_last.is_none_or(|t| *at > t)).count();
        if in_a_row >= MAX_NOTES_IN_A_ROW {
            return Ok(rejected(Some(id), RejectReason::NotesUnanswered { max: MAX_NOTES_IN_A_ROW }));
        }
        let mut batch = crate::writes::Batch::default();
        let record = match self.conversation_record(&conversation)? {
            Some(mut record) => {
                if record.opener != side && !record.answered {
                    // Answered: no longer among the opener's unanswered conversations.
                    record.answered = true;
                    batch.remove(unanswered_key(&conversation, record.opener));
                }
                record.last_at = record.last_at.max(object.created_at());
                record
            }
            None => {
                if self.unanswered_opened_by(&author, &note.to)? >= MAX_UNANSWERED_CONVERSATIONS {
                    return Ok(rejected(
                        Some(id),
                        RejectReason::ConversationQuota { max: MAX_UNANSWERED_CONVERSATIONS },
                    ));
                }
                batch.insert(unanswered_key(&conversation, side), &[]);
                ConversationRecord {
                    opener: side,
                    answered: false,
                    last_at: object.created_at(),
                    read: (Timestamp(0), ObjectId::from_bytes([0; 32])),
                }
            }
        };
        batch.insert(keys::object(&id), object.bytes());
        batch.insert(note_key(&conversation, object.created_at(), &id), [side].as_slice());
        batch.insert(conversation_key(&conversation), record.encode().as_slice());
        if origin == Origin::Own {
            self.queue_for_delivery(&mut batch, object)?;
        }
        self.apply_writes(batch)?;
        Ok(Outcome::New { id, kind: ObjectKind::Note, deal: None })
    }

    /// Conversations between `opener` and `other` that `opener` opened and `other` never
    /// answered: a prefix of the `U` index, at most [`MAX_UNANSWERED_CONVERSATIONS`] long.
    fn unanswered_opened_by(&self, opener: &PublicKey, other: &PublicKey) -> Result<usize, StoreError> {
        let prefix = keys::key(keys::UNANSWERED, &[opener.as_bytes(), other.as_bytes()]);
        let mut count = 0;
        for k in self.db.scan_prefix(prefix).keys() {
            k?;
            count += 1;
        }
        Ok(count)
    }

    fn conversation_record(
        &self,
        conversation: &Conversation,
    ) -> Result<Option<ConversationRecord>, StoreError> {
        self.db.get(conversation_key(conversation))?.map(|v| ConversationRecord::decode(&v)).transpose()
    }

    /// A conversation's notes, oldest first.
    pub fn conversation_notes(&self, conversation: &Conversation) -> Result<Vec<Object>, StoreError> {
        let mut out = Vec::new();
        let prefix = keys::key(keys::NOTE, &[&conversation.to_bytes()]);
        for k in self.db.scan_prefix(prefix).keys() {
            let id = keys::id_at_end(&k?).ok_or(StoreError::Corrupt { what: "note key" })?;
            if let Some(bytes) = self.db.get(keys::object(&id))? {
                out.push(decode_stored(&bytes)?);
            }
        }
        out.sort_by_key(place);
        Ok(out)
    }

    /// One conversation with its notes, if any note of it is held.
    pub fn conversation(&self, conversation: &Conversation) -> Result<Option<ConversationEntry>, StoreError> {
        let Some(record) = self.conversation_record(conversation)? else { return Ok(None) };
        Ok(Some(self.entry(*conversation, record)?))
    }

    fn entry(
        &self,
        conversation: Conversation,
        record: ConversationRecord,
    ) -> Result<ConversationEntry, StoreError> {
        Ok(ConversationEntry {
            conversation,
            opener: conversation.keys[usize::from(record.opener)],
            answered: record.answered,
            notes: self.conversation_notes(&conversation)?,
            read: (record.read.0 != Timestamp(0)).then_some(record.read),
        })
    }

    /// Every conversation held, the most recent first (by its last note).
    pub fn conversations(&self) -> Result<Vec<ConversationEntry>, StoreError> {
        let mut records = Vec::new();
        for entry in self.db.scan_prefix([keys::CONVERSATION]) {
            let (k, v) = entry?;
            let conversation =
                Conversation::from_bytes(&k[1..]).ok_or(StoreError::Corrupt { what: "conversation key" })?;
            records.push((conversation, ConversationRecord::decode(&v)?));
        }
        records.sort_by_key(|(c, r)| (std::cmp::Reverse(r.last_at), *c));
        records.into_iter().map(|(c, r)| self.entry(c, r)).collect()
    }

    /// Notes that the owner has read `conversation` up to `upto` (a note's place); an earlier
    /// place than the one noted changes nothing. Flushed.
    pub fn mark_read(
        &self,
        conversation: &Conversation,
        upto: (Timestamp, ObjectId),
    ) -> Result<(), StoreError> {
        {
            let _lock = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
            let Some(mut record) = self.conversation_record(conversation)? else { return Ok(()) };
            if upto <= record.read {
                return Ok(());
            }
            record.read = upto;
            self.db.insert(conversation_key(conversation), record.encode().as_slice())?;
        }
        self.flush()
    }

    /// Removes conversations whose last note is older than `cutoff`, unless about a thread
    /// still held: every note, its outbox record, and the conversation's record.
    pub(crate) fn sweep_notes(&self, cutoff: Timestamp) -> Result<usize, StoreError> {
        let mut old = Vec::new();
        for entry in self.db.scan_prefix([keys::CONVERSATION]) {
            let (k, v) = entry?;
            let conversation =
                Conversation::from_bytes(&k[1..]).ok_or(StoreError::Corrupt { what: "conversation key" })?;
            if ConversationRecord::decode(&v)?.last_at < cutoff {
                old.push(conversation);
            }
        }
        let mut swept = 0;
        for conversation in old {
            let _lock = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
            if let About::Thread(thread) = conversation.about
                && self.contains(&thread)?
            {
                continue;
            }
            // Read again under the lock: a note may have come meanwhile.
            let Some(record) = self.conversation_record(&conversation)?.filter(|r| r.last_at < cutoff) else {
                continue;
            };
            let mut batch = crate::writes::Batch::default();
            if !record.answered {
                batch.remove(unanswered_key(&conversation, record.opener));
            }
            for note in self.conversation_notes(&conversation)? {
                let id = note.id();
                batch.remove(keys::object(&id));
                batch.remove(note_key(&conversation, note.created_at(), &id));
                batch.remove(keys::outbox(&id));
                if let Some(to) = note.body().recipient() {
                    batch.remove(keys::outbox_pending(&to, &id));
                }
            }
            batch.remove(conversation_key(&conversation));
            self.apply_writes(batch)?;
            swept += 1;
        }
        Ok(swept)
    }
}

#[cfg(test)]
mod tests;
