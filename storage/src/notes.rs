//! Notes: free text between two people about a listing or a thread (see
//! `haggle_protocol::note`), kept per conversation, with what the owner has read.
//!
//! Every note a node holds has the owner as its author or its recipient (notes travel only to
//! their recipient), so the conversations here are the owner's. What one key can make a node
//! keep is bounded three ways, each checked against what this node holds:
//! - [`MAX_NOTES_PER_PARTY`] notes per party in one conversation;
//! - [`MAX_NOTES_IN_A_ROW`] notes from one side that arrived since the other side's last;
//! - [`MAX_UNANSWERED_CONVERSATIONS`] conversations about listings a key opened with another
//!   that the other never answered (a thread's conversation is not counted: the thread took an
//!   offer, under the thread quotas).
//!
//! Notes are shown in the order they were written (their dates), but counted in the order they
//! arrived here: each gets the conversation's next arrival number, and the owner's read mark
//! and the count in a row go by it. A note delivered late (from a mailbox, after a retry) is
//! unread however it is dated, and backdating a note does not put it before an answer.
//!
//! Each check reads an index, not the notes: a note's key carries its date and its value which
//! of the two keys wrote it and its arrival number, and the `U` index lists the conversations a
//! pair (opener, other) left unanswered, so a note costs a scan of its own conversation's keys
//! (at most 400) and of at most 8 index keys, whatever else the node holds.
//!
//! A conversation goes [`crate::THREAD_RETENTION`] after its last note, unless it is about a
//! thread this node still holds (a deal's thread is kept with the deal).

use haggle_protocol::note::{About, CONVERSATION_KEY_LEN, Conversation};
use haggle_protocol::{Body, ListingKey, Object, ObjectId, ObjectKind, PublicKey, Timestamp};

use crate::error::StoreError;
use crate::ingest::{Origin, Outcome, RejectReason, rejected};
use crate::keys;
use crate::store::{Store, decode_stored};

/// Notes one party may keep in one conversation: a long exchange about a pick-up is a few
/// dozen.
pub const MAX_NOTES_PER_PARTY: usize = 200;
/// Notes one side may send in a row, before the other side answers.
pub const MAX_NOTES_IN_A_ROW: usize = 20;
/// Conversations about listings one key may have opened with another that the other never
/// answered (threads' conversations are not counted): a buyer asking a seller about a few
/// listings at once is far below it; a stranger writing about every listing a seller has is
/// stopped at it.
pub const MAX_UNANSWERED_CONVERSATIONS: usize = 8;

/// A conversation's record (`C` + the conversation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConversationRecord {
    /// Which of the conversation's two keys wrote its first note held here (0 or 1).
    pub opener: u8,
    /// Whether the other key has written too.
    pub answered: bool,
    /// The newest note's date.
    pub last_at: Timestamp,
    /// The arrival number of the newest note the owner has read (0: none).
    pub read: u64,
    /// The arrival number of the last note that arrived.
    pub arrived: u64,
}

impl ConversationRecord {
    const LEN: usize = 1 + 1 + 8 + 8 + 8;

    fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[0] = self.opener;
        out[1] = u8::from(self.answered);
        out[2..10].copy_from_slice(&self.last_at.to_be_bytes());
        out[10..18].copy_from_slice(&self.read.to_be_bytes());
        out[18..].copy_from_slice(&self.arrived.to_be_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        if bytes.len() != Self::LEN || bytes[0] > 1 {
            return Err(StoreError::Corrupt { what: "conversation record" });
        }
        let n = |b: &[u8]| u64::from_be_bytes(b.try_into().expect("8 bytes"));
        Ok(ConversationRecord {
            opener: bytes[0],
            answered: bytes[1] != 0,
            last_at: Timestamp(n(&bytes[2..10])),
            read: n(&bytes[10..18]),
            arrived: n(&bytes[18..]),
        })
    }
}

/// One note as the index holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoteRef {
    /// The note's id.
    pub id: ObjectId,
    /// Its date.
    pub at: Timestamp,
    /// Which of the conversation's two keys wrote it (0 or 1).
    pub side: u8,
    /// Its arrival number in the conversation (from 1).
    pub arrival: u64,
}

/// A conversation held, from the index and its record.
#[derive(Debug, Clone)]
pub struct ConversationEntry {
    /// What it is about and between whom.
    pub conversation: Conversation,
    /// The key that wrote its first note held here.
    pub opener: PublicKey,
    /// Whether the other key has written too.
    pub answered: bool,
    /// Its notes, in date order.
    pub notes: Vec<NoteRef>,
    /// The arrival number of the newest note the owner has read (0: none).
    pub read: u64,
}

impl ConversationEntry {
    /// Whether the owner `me` had read `note` (its own notes always).
    pub fn is_read(&self, note: &NoteRef, me: &PublicKey) -> bool {
        self.conversation.keys[usize::from(note.side)] == *me || note.arrival <= self.read
    }

    /// Notes not written by `me` that arrived after what the owner read.
    pub fn unread(&self, me: &PublicKey) -> usize {
        self.notes.iter().filter(|n| !self.is_read(n, me)).count()
    }

    /// Its first note to arrive here: the id that names it whatever comes later (None for a
    /// conversation with no note held).
    pub fn first_arrived(&self) -> Option<ObjectId> {
        self.notes.iter().min_by_key(|n| n.arrival).map(|n| n.id)
    }

    /// The arrival number of the last note held (0: none).
    pub fn last_arrival(&self) -> u64 {
        self.notes.iter().map(|n| n.arrival).max().unwrap_or(0)
    }
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
        let conversation = Conversation::of(author, note);
        let record = self.conversation_record(&conversation)?;
        if let Some(reason) = self.subject_refusal(author, &note.to, &note.about, record.is_some())? {
            return Ok(rejected(Some(id), reason));
        }
        let side = u8::from(conversation.keys[1] == author);
        let held = self.conversation_index(&conversation)?;
        if held.iter().filter(|n| n.side == side).count() >= MAX_NOTES_PER_PARTY {
            return Ok(rejected(Some(id), RejectReason::NotesFull { max: MAX_NOTES_PER_PARTY }));
        }
        // By arrival: a note backdated before the other side's answer is still after it.
        let their_last = held.iter().filter(|n| n.side != side).map(|n| n.arrival).max().unwrap_or(0);
        if held.iter().filter(|n| n.side == side && n.arrival > their_last).count() >= MAX_NOTES_IN_A_ROW {
            return Ok(rejected(Some(id), RejectReason::NotesUnanswered { max: MAX_NOTES_IN_A_ROW }));
        }
        let mut batch = crate::writes::Batch::default();
        let mut record = match record {
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
                // Only a question about a listing counts: a thread took an offer first, under
                // the thread quotas, and its notes are held to 20 in a row like any.
                if let About::Listing(_) = note.about {
                    if self.unanswered_opened_by(&author, &note.to)? >= MAX_UNANSWERED_CONVERSATIONS {
                        return Ok(rejected(
                            Some(id),
                            RejectReason::ConversationQuota { max: MAX_UNANSWERED_CONVERSATIONS },
                        ));
                    }
                    batch.insert(unanswered_key(&conversation, side), &[]);
                }
                ConversationRecord {
                    opener: side,
                    answered: false,
                    last_at: object.created_at(),
                    read: 0,
                    arrived: 0,
                }
            }
        };
        record.arrived += 1;
        // The owner's own note is written having read what came before it.
        if origin == Origin::Own {
            record.read = record.arrived;
        }
        let mut value = [0u8; 9];
        value[0] = side;
        value[1..].copy_from_slice(&record.arrived.to_be_bytes());
        batch.insert(keys::object(&id), object.bytes());
        batch.insert(note_key(&conversation, object.created_at(), &id), value.as_slice());
        batch.insert(conversation_key(&conversation), record.encode().as_slice());
        if origin == Origin::Own {
            self.queue_for_delivery(&mut batch, object)?;
        }
        self.apply_writes(batch)?;
        Ok(Outcome::New { id, kind: ObjectKind::Note, deal: None })
    }

    /// Why a note by `author` to `to` about `about` cannot be taken, if it cannot. Once a
    /// conversation is held, its subject need not be: the first note's was (a listing may be
    /// evicted or expire while its conversation goes on), and the conversation's key holds
    /// the same two keys.
    fn subject_refusal(
        &self,
        author: PublicKey,
        to: &PublicKey,
        about: &About,
        conversation_held: bool,
    ) -> Result<Option<RejectReason>, StoreError> {
        Ok(match about {
            About::Listing(key) if key.author != author && key.author != *to => {
                Some(RejectReason::NotBetweenParties)
            }
            _ if conversation_held => None,
            About::Listing(key) => self.head(key)?.is_none().then_some(RejectReason::UnknownSubject),
            About::Thread(thread) => match self.get(thread)? {
                None => Some(RejectReason::UnknownSubject),
                Some(opening) => match opening.body().opening() {
                    None => Some(RejectReason::NotAThread(*thread)),
                    Some(o)
                        if [opening.author(), o.to].contains(&author)
                            && [opening.author(), o.to].contains(to) =>
                    {
                        None
                    }
                    Some(_) => Some(RejectReason::NotBetweenParties),
                },
            },
        })
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

    /// The conversation records under `prefix` (within `C`), in key order.
    fn conversation_records(
        &self,
        prefix: &[u8],
    ) -> Result<Vec<(Conversation, ConversationRecord)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.db.scan_prefix(keys::key(keys::CONVERSATION, &[prefix])) {
            let (k, v) = entry?;
            let conversation =
                Conversation::from_bytes(&k[1..]).ok_or(StoreError::Corrupt { what: "conversation key" })?;
            out.push((conversation, ConversationRecord::decode(&v)?));
        }
        Ok(out)
    }

    /// A conversation's notes as the index holds them, in date order (no note is read).
    pub fn conversation_index(&self, conversation: &Conversation) -> Result<Vec<NoteRef>, StoreError> {
        let mut out = Vec::new();
        for entry in self.db.scan_prefix(keys::key(keys::NOTE, &[&conversation.to_bytes()])) {
            let (k, v) = entry?;
            let corrupt = || StoreError::Corrupt { what: "note key" };
            let at = k.get(1 + CONVERSATION_KEY_LEN..1 + CONVERSATION_KEY_LEN + 8).ok_or_else(corrupt)?;
            let id = keys::id_at_end(&k).ok_or_else(corrupt)?;
            let (&[side], arrival) = (v.get(..1).ok_or_else(corrupt)?, v.get(1..9).ok_or_else(corrupt)?)
            else {
                return Err(corrupt());
            };
            out.push(NoteRef {
                id,
                at: Timestamp(u64::from_be_bytes(at.try_into().map_err(|_| corrupt())?)),
                side,
                arrival: u64::from_be_bytes(arrival.try_into().map_err(|_| corrupt())?),
            });
        }
        Ok(out)
    }

    /// The notes `refs` names, in the same order (one no longer held is left out).
    pub fn notes(&self, refs: &[NoteRef]) -> Result<Vec<(NoteRef, Object)>, StoreError> {
        let mut out = Vec::with_capacity(refs.len());
        for r in refs {
            if let Some(bytes) = self.db.get(keys::object(&r.id))? {
                out.push((*r, decode_stored(&bytes)?));
            }
        }
        Ok(out)
    }

    /// One conversation, if any note of it is held.
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
            notes: self.conversation_index(&conversation)?,
            read: record.read,
        })
    }

    /// Every conversation held, the most recent first (by its last note).
    pub fn conversations(&self) -> Result<Vec<ConversationEntry>, StoreError> {
        let mut records = self.conversation_records(&[])?;
        records.sort_by_key(|(c, r)| (std::cmp::Reverse(r.last_at), *c));
        records.into_iter().map(|(c, r)| self.entry(c, r)).collect()
    }

    /// The conversations about the listing `key`.
    pub fn conversations_about(&self, key: &ListingKey) -> Result<Vec<ConversationEntry>, StoreError> {
        let mut prefix = vec![0u8];
        prefix.extend_from_slice(&key.to_bytes());
        self.conversation_records(&prefix)?.into_iter().map(|(c, r)| self.entry(c, r)).collect()
    }

    /// The conversations between `me` (this node's owner) and `other` about a listing of either
    /// (questions asked before any offer, or beside one). Those about `other`'s listings are
    /// found by the prefix its key gives them, and are all with `other` (a node holds its
    /// owner's notes alone; each is checked all the same); those about the owner's listings by
    /// each listing's conversation with `other`, so what strangers asked about them is never
    /// read.
    pub fn listing_conversations_between(
        &self,
        me: &PublicKey,
        other: &PublicKey,
    ) -> Result<Vec<ConversationEntry>, StoreError> {
        let mut prefix = vec![0u8];
        prefix.extend_from_slice(other.as_bytes());
        let mut out = Vec::new();
        for (conversation, record) in self.conversation_records(&prefix)? {
            if conversation.other(me) == Some(*other) {
                out.push(self.entry(conversation, record)?);
            }
        }
        if me != other {
            for key in self.listing_keys_by(me)? {
                let conversation = Conversation::new(About::Listing(key), *me, *other);
                if let Some(record) = self.conversation_record(&conversation)? {
                    out.push(self.entry(conversation, record)?);
                }
            }
        }
        Ok(out)
    }

    /// Whether any conversation about the listing `key` is held (it keeps the listing from
    /// being evicted: its answers would be refused without it).
    pub(crate) fn has_conversation_about(&self, key: &ListingKey) -> Result<bool, StoreError> {
        let prefix = keys::key(keys::CONVERSATION, &[&[0], &key.to_bytes()]);
        Ok(self.db.scan_prefix(prefix).keys().next().transpose()?.is_some())
    }

    /// Notes that the owner has read `conversation` up to the arrival number `upto`; an earlier
    /// one than noted changes nothing. Flushed.
    pub fn mark_read(&self, conversation: &Conversation, upto: u64) -> Result<(), StoreError> {
        {
            let _lock = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
            let Some(mut record) = self.conversation_record(conversation)? else { return Ok(()) };
            if upto <= record.read {
                return Ok(());
            }
            record.read = upto.min(record.arrived);
            self.db.insert(conversation_key(conversation), record.encode().as_slice())?;
        }
        self.flush()
    }

    /// Removes conversations whose last note is older than `cutoff`, unless about a thread
    /// still held: every note, its outbox record, and the conversation's records.
    pub(crate) fn sweep_notes(&self, cutoff: Timestamp) -> Result<usize, StoreError> {
        let old: Vec<Conversation> = self
            .conversation_records(&[])?
            .into_iter()
            .filter(|(_, r)| r.last_at < cutoff)
            .map(|(c, _)| c)
            .collect();
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
            for note in self.conversation_index(&conversation)? {
                // Its recipient: the other of the two keys.
                let to = conversation.keys[1 - usize::from(note.side)];
                batch.remove(keys::object(&note.id));
                batch.remove(note_key(&conversation, note.at, &note.id));
                batch.remove(keys::outbox(&note.id));
                batch.remove(keys::outbox_pending(&to, &note.id));
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
