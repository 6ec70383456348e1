//! The owner's names for other people's keys (`haggle name`): `Bob` for the key of someone it
//! traded with, shown in place of the key and taken wherever a key is asked for (`haggle
//! reputation Bob`, `haggle block Bob`, `haggle search --seller Bob`).
//!
//! A name is the owner's own (a petname): kept on this node, never published, and meaning only
//! what the owner says. A name a seller gave itself could be anyone's; one the owner gave after
//! a trade cannot be spoofed. So a name must not look like what it stands in for (a key, or an
//! id a command would take for an object's), and stands for one key.

use haggle_protocol::{PublicKey, Timestamp};
use haggle_storage::{MAX_NAME_CHARS, MAX_NAMES, NameOutcome};

use super::{Conflict, InvalidInput, Service, ServiceError};
use crate::api::types::{NameChange, NameRequest, NameView, NamesPage};

/// Characters that change how text shows without showing themselves (zero-width spaces and
/// joiners, direction marks and overrides, the byte-order mark, a soft hyphen, the Arabic
/// letter mark, fillers that draw as blanks, tag characters, invisible musical formatting):
/// two names that differ only by them would look the same in a table. (From a hostile trial:
/// U+061C, U+180E, U+3164, U+115F, U+2800, U+034F, the tags and U+1D173 got through.)
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{AD}'
            | '\u{34F}'
            | '\u{61C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{2800}'
            | '\u{3164}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

/// Whether the invisible character at `at` of `chars` is a zero-width non-joiner or joiner
/// between two visible characters of other scripts than ASCII's: Persian spells words with
/// the first (`یوناس‌خان`), and emoji like 👨‍👩‍👧 are joined by the second. Between ASCII letters
/// one would only hide, and names compare without them ([`haggle_storage::same_name`]).
fn spelling_joiner(chars: &[char], at: usize) -> bool {
    let shown = |c: Option<&char>| c.is_some_and(|&c| !c.is_ascii() && !c.is_whitespace() && !invisible(c));
    matches!(chars[at], '\u{200C}' | '\u{200D}')
        && shown(at.checked_sub(1).and_then(|i| chars.get(i)))
        && shown(chars.get(at + 1))
}

/// Whether the tag character at `at` of `chars` spells a flag with the black flag before its
/// run of tags (🏴 and the tags of `gbsct`, Scotland's), as emoji do.
fn flag_tag(chars: &[char], at: usize) -> bool {
    let tag = |c: char| ('\u{E0020}'..='\u{E007F}').contains(&c);
    tag(chars[at]) && chars[..at].iter().rev().find(|c| !tag(**c)) == Some(&'\u{1F3F4}')
}

/// Whether `text` holds a character that does not show (a zero-width space, a direction
/// override, a soft hyphen) other than a joiner that spells a word: such a character makes a
/// text read as another (a title reversed on screen, two titles alike that are not).
pub(crate) fn hides_characters(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    chars
        .iter()
        .enumerate()
        .any(|(at, &c)| invisible(c) && !spelling_joiner(&chars, at) && !flag_tag(&chars, at))
}

/// A name as kept (trimmed, its inner spaces one each), if one a table can show in place of a
/// key and a command cannot take for a key, an id, an option or the owner.
/// Kept composed (NFC): a letter typed with its accent as a separate mark is the accented
/// letter, shown as one.
pub fn check_name(given: &str) -> Result<String, InvalidInput> {
    use unicode_normalization::UnicodeNormalization;
    let composed: String = given.nfc().collect();
    let name = composed.split_whitespace().collect::<Vec<_>>().join(" ");
    let refuse = |why: String| Err(InvalidInput::Name { given: given.to_owned(), why });
    let len = name.chars().count();
    if len == 0 {
        return refuse("a name has at least one character".into());
    }
    let chars: Vec<char> = composed.trim().chars().collect();
    let hidden = |(at, &c): (usize, &char)| {
        c.is_control() || (invisible(c) && !spelling_joiner(&chars, at) && !flag_tag(&chars, at))
    };
    if chars.iter().enumerate().any(hidden) {
        return refuse("a name is one line of visible characters".into());
    }
    // A path segment of dots is no name, and `...` is not a shortened key (from a trial);
    // a command line takes a leading dash for an option.
    if name.starts_with('-') || name.chars().all(|c| c == '.') {
        return refuse("a name does not start with a dash nor is only dots".into());
    }
    if name.contains('…')
        || name.contains("...")
        || name.parse::<PublicKey>().is_ok()
        || name.starts_with("12D3KooW")
    {
        return refuse("it looks like a key, and a name must not".into());
    }
    // The length first: a name of 33 `a`s is too long before it is hex (found in a trial).
    if len > MAX_NAME_CHARS {
        return refuse(format!("a name has at most {MAX_NAME_CHARS} characters"));
    }
    // Ids are taken from 6 hex characters on: a name like that would shadow one.
    if len >= 6 && name.chars().all(|c| c.is_ascii_hexdigit()) {
        return refuse("it looks like an id (hex digits only), and a name must not".into());
    }
    // Tables say "you" for the owner.
    if ["you", "me"].iter().any(|own| name.eq_ignore_ascii_case(own)) {
        return refuse("tables say it for your own key, and a name must not pass for it".into());
    }
    Ok(name)
}

impl Service {
    /// Names the key `request.who` names (a key, an id, or its current name).
    pub fn set_name(&self, request: NameRequest) -> Result<NameChange, ServiceError> {
        let name = check_name(&request.name)?;
        let name = name.as_str();
        let key = self.identity_named(&request.who, true)?;
        if key == self.me() {
            return Err(InvalidInput::NameSelf.into());
        }
        let (changed, was) = match self.store.name(key, name, Timestamp::now())? {
            NameOutcome::Added => (true, None),
            NameOutcome::Renamed(was) => (true, Some(was)),
            NameOutcome::Unchanged => (false, Some(name.to_owned())),
            NameOutcome::Full => return Err(Conflict::NamesFull { max: MAX_NAMES }.into()),
            NameOutcome::Taken(other, held) if haggle_storage::same_name(&held, name) => {
                return Err(Conflict::NameTaken { name: held, key: other }.into());
            }
            NameOutcome::Taken(other, held) => {
                return Err(Conflict::NameLooksLike { given: name.to_owned(), name: held, key: other }.into());
            }
        };
        Ok(NameChange { key, name: Some(name.to_owned()), was, changed })
    }

    /// Takes the name of the key `given` names (a key, an id, or the name itself) away.
    pub fn clear_name(&self, given: &str) -> Result<NameChange, ServiceError> {
        let key = self.identity_named(given, true)?;
        let was = self.store.unname(&key)?;
        Ok(NameChange { key, name: None, changed: was.is_some(), was })
    }

    /// The named keys, by name.
    pub fn names(&self) -> Result<NamesPage, ServiceError> {
        let names = self
            .store
            .names()?
            .into_iter()
            .map(|n| NameView { key: n.key, name: n.name, since: n.since.as_millis() })
            .collect();
        Ok(NamesPage { names, max: MAX_NAMES })
    }

    /// The key the owner named `given`, if it is a name (compared without regard to case).
    pub(super) fn key_by_name(&self, given: &str) -> Result<Option<PublicKey>, ServiceError> {
        let Ok(name) = check_name(given) else { return Ok(None) };
        Ok(self.store.named(&name)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testing::service;

    #[test]
    fn a_name_must_not_pass_for_a_key_an_id_an_option_or_the_owner() {
        assert_eq!(check_name("  Bob   the bikes "), Ok("Bob the bikes".to_owned()));
        assert_eq!(check_name("beef"), Ok("beef".to_owned()), "too short for an id");
        assert_eq!(check_name("Émile 🚲"), Ok("Émile 🚲".to_owned()));
        let key = haggle_protocol::fixtures::key(1).public().peer_id().to_string();
        let bad = [
            "",
            "   ",
            "cafe12",
            "12D3KooW…pWTGKh",
            "12D3KooW",
            "a\nb",
            "Bob\u{200B}",
            "you",
            "Me",
            "-v",
            "..",
            &"x".repeat(33),
        ];
        for bad in bad.iter().copied().chain([key.as_str()]) {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        // A whole key is refused as a key, not as too long (found in a trial).
        let said = check_name(&key).expect_err("a key").to_string();
        assert!(said.contains("looks like a key"), "{said}");
        // Too long is said before hex (found in a trial: 33 `a`s looked like an id).
        // From a trial: `...` read as a shortened key.
        for dots in ["...", "...."] {
            let said = check_name(dots).expect_err("dots").to_string();
            assert!(said.ends_with("a name does not start with a dash nor is only dots"), "{said}");
        }
        let long_hex = check_name(&"a".repeat(33)).expect_err("too long").to_string();
        assert!(long_hex.ends_with("a name has at most 32 characters"), "{long_hex}");
        // From an international trial: kept composed, and the joiners Persian spelling and
        // emoji need are taken between their characters, not between ASCII letters.
        assert_eq!(check_name("Jonas aus Mu\u{308}nchen"), Ok("Jonas aus München".to_owned()));
        assert!(check_name("یوناس\u{200C}خان").is_ok());
        assert!(check_name("👨\u{200D}👩\u{200D}👧").is_ok());
        for hiding in ["b\u{200D}ob", "\u{200C}یوناس", "یوناس\u{200C}", "Bob \u{200D}🚲"] {
            assert!(check_name(hiding).is_err(), "{hiding:?}");
        }
        // Said as written, not as Rust's escapes (from the retrial).
        assert_eq!(super::super::quoted("یوناس\u{200C}خان"), "\"یوناس\u{200C}خان\"");
        assert_eq!(super::super::quoted("a \"b\" \\"), r#""a \"b\" \\""#);
    }

    #[test]
    fn a_named_key_is_found_by_its_name_and_a_name_stands_for_one_key() {
        let (me, _d) = service(1);
        let (bob, carol) =
            (haggle_protocol::fixtures::key(2).public(), haggle_protocol::fixtures::key(3).public());
        let named =
            me.set_name(NameRequest { who: bob.peer_id().to_string(), name: "Bob".into() }).expect("named");
        assert_eq!(
            (named.key, named.name.as_deref(), named.was, named.changed),
            (bob, Some("Bob"), None, true)
        );
        // Renamed by its name.
        let renamed =
            me.set_name(NameRequest { who: "bob".into(), name: "Bob (bikes)".into() }).expect("renamed");
        assert_eq!((renamed.was.as_deref(), renamed.changed), (Some("Bob"), true));
        assert_eq!(me.identity_named("BOB (BIKES)", true).expect("by name"), bob);
        let taken = me
            .set_name(NameRequest { who: carol.peer_id().to_string(), name: "bob (Bikes)".into() })
            .expect_err("taken")
            .to_string();
        assert!(
            taken.contains("\"Bob (bikes)\" names 12D3KooW")
                && taken.contains("haggle name --clear 'Bob (bikes)'"),
            "the name as held, quoted for a shell: {taken}"
        );
        // From a trial: a name with a Cyrillic `а` passed for another key's `Bob (bikes)`.
        let alike = me
            .set_name(NameRequest { who: carol.peer_id().to_string(), name: "Bоb (bikes)".into() })
            .expect_err("looks alike")
            .to_string();
        assert!(
            alike.starts_with("\"Bоb (bikes)\" looks like \"Bob (bikes)\", the name of 12D3KooW")
                && alike.contains("choose a name that reads differently"),
            "{alike}"
        );
        // One name typed two ways, or with a joiner, is one name.
        assert!(haggle_storage::same_name("Mu\u{308}nchen", "münchen"));
        assert!(haggle_storage::same_name("یوناس\u{200C}خان", "یوناسخان"));
        assert!(haggle_storage::same_name("ユルゲン（チューリッヒ）", "ユルゲン(チューリッヒ)"));
        let own = me.set_name(NameRequest { who: me.me().peer_id().to_string(), name: "Myself".into() });
        assert!(own.expect_err("own key").to_string().contains("your own key"));
        let cleared = me.clear_name("Bob (bikes)").expect("cleared");
        assert_eq!(
            (cleared.name, cleared.was.as_deref(), cleared.changed),
            (None, Some("Bob (bikes)"), true)
        );
        assert!(me.names().expect("names").names.is_empty());
        assert!(me.identity_named("Bob (bikes)", true).is_err(), "no longer a name");
    }
}
