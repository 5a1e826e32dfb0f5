//! Topics in the enigma.js style: `kind`, `kind:name`, `kind:*`.

use std::fmt;
use std::str::FromStr;

/// What a subscriber or listener asks to receive, written as enigma.js writes event names.
///
/// Three forms:
///
/// | topic       | matches the published events                         |
/// |-------------|------------------------------------------------------|
/// | `kind`      | `(kind, None)` only                                  |
/// | `kind:name` | `(kind, Some(name))` only                            |
/// | `kind:*`    | every event of `kind`, named or not                  |
///
/// The kind is everything before the first `:`, the name everything after it (so a name may
/// itself contain `:`). Neither may be empty, and a topic may not contain whitespace or control
/// characters. `*` is reserved for the wildcard: it may not appear in a kind, and a name is
/// either exactly `*` or free of it. An event published with the name `"*"` is therefore only
/// reachable through `kind:*`.
///
/// ```
/// use qix_events::Topic;
///
/// let topic = Topic::parse("notification:*")?;
/// assert!(topic.matches("notification", Some("OnConnected")));
/// assert!(topic.matches("notification", None));
/// assert!(!topic.matches("traffic", Some("sent")));
/// assert_eq!(topic.to_string(), "notification:*");
/// # Ok::<(), qix_events::TopicError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Topic {
    text: Box<str>,
    /// Byte index of the first `:`; `None` for a bare `kind`.
    colon: Option<usize>,
    /// True for `kind:*`: known once, as `matches` runs for every event published.
    wildcard: bool,
}

/// Why a string is not a [`Topic`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicError {
    /// The string is empty or only whitespace.
    #[error("empty topic: expected \"kind\", \"kind:name\" or \"kind:*\"")]
    Empty,
    /// Nothing before the `:`.
    #[error("topic {topic:?} has an empty kind before ':' (expected \"kind\", \"kind:name\" or \"kind:*\")")]
    EmptyKind {
        /// The rejected topic.
        topic: String,
    },
    /// Nothing after the `:`.
    #[error("topic {topic:?} has an empty name after ':' (write \"kind\" or \"kind:*\" instead)")]
    EmptyName {
        /// The rejected topic.
        topic: String,
    },
    /// A character a topic may not hold.
    #[error(
        "topic {topic:?} contains {found:?}, which a topic may not hold \
         (no whitespace or control characters; '*' only as the whole name in \"kind:*\")"
    )]
    InvalidChar {
        /// The rejected topic.
        topic: String,
        /// The first offending character.
        found: char,
    },
}

impl Topic {
    /// Parses `kind`, `kind:name` or `kind:*`.
    ///
    /// # Errors
    ///
    /// [`TopicError`] when the string is empty or whitespace-only, when the kind or the name
    /// is empty (`:x`, `x:`), or when it holds whitespace, a control character, or a `*`
    /// anywhere but as the whole name.
    pub fn parse(s: &str) -> Result<Topic, TopicError> {
        if s.trim().is_empty() {
            return Err(TopicError::Empty);
        }
        let invalid = |found: char| TopicError::InvalidChar {
            topic: s.to_owned(),
            found,
        };
        if let Some(found) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid(found));
        }
        let colon = s.find(':');
        let (kind, name) = match colon {
            Some(at) => (&s[..at], Some(&s[at + 1..])),
            None => (s, None),
        };
        if kind.is_empty() {
            return Err(TopicError::EmptyKind {
                topic: s.to_owned(),
            });
        }
        if kind.contains('*') {
            return Err(invalid('*'));
        }
        match name {
            Some("") => {
                return Err(TopicError::EmptyName {
                    topic: s.to_owned(),
                })
            }
            Some(name) if name != "*" && name.contains('*') => return Err(invalid('*')),
            _ => {}
        }
        Ok(Topic {
            text: s.into(),
            colon,
            wildcard: name == Some("*"),
        })
    }

    /// The kind: everything before the first `:`.
    pub fn kind(&self) -> &str {
        match self.colon {
            Some(at) => &self.text[..at],
            None => &self.text,
        }
    }

    /// The name of a `kind:name` topic; `None` for `kind` and for `kind:*`.
    pub fn name(&self) -> Option<&str> {
        match self.raw_name() {
            Some("*") | None => None,
            name => name,
        }
    }

    /// True for `kind:*`.
    pub fn is_wildcard(&self) -> bool {
        self.wildcard
    }

    /// The topic as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when an event published as `(kind, name)` is delivered to this topic.
    pub fn matches(&self, kind: &str, name: Option<&str>) -> bool {
        // On bytes: it runs for every subscriber on every event published, and slicing a
        // `str` checks char boundaries that a `:` (ASCII) always is.
        let text = self.text.as_bytes();
        match self.colon {
            None => name.is_none() && text == kind.as_bytes(),
            Some(at) => {
                text.get(..at) == Some(kind.as_bytes())
                    && (self.wildcard || name.map(str::as_bytes) == text.get(at + 1..))
            }
        }
    }

    fn raw_name(&self) -> Option<&str> {
        self.colon.map(|at| &self.text[at + 1..])
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Topic({:?})", &*self.text)
    }
}

impl FromStr for Topic {
    type Err = TopicError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Topic::parse(s)
    }
}

impl TryFrom<&str> for Topic {
    type Error = TopicError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Topic::parse(s)
    }
}

impl AsRef<str> for Topic {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(s: &str) -> Topic {
        Topic::parse(s).unwrap()
    }

    #[test]
    fn parses_the_three_forms() {
        let bare = topic("closed");
        assert_eq!(
            (bare.kind(), bare.name(), bare.is_wildcard()),
            ("closed", None, false)
        );
        let named = topic("notification:OnConnected");
        assert_eq!(
            (named.kind(), named.name(), named.is_wildcard()),
            ("notification", Some("OnConnected"), false)
        );
        let wildcard = topic("traffic:*");
        assert_eq!(
            (wildcard.kind(), wildcard.name(), wildcard.is_wildcard()),
            ("traffic", None, true)
        );
        assert_eq!(named.as_str(), "notification:OnConnected");
        assert_eq!(wildcard.to_string(), "traffic:*");
    }

    #[test]
    fn name_keeps_everything_after_the_first_colon() {
        let t = topic("a:b:c");
        assert_eq!((t.kind(), t.name()), ("a", Some("b:c")));
        assert!(t.matches("a", Some("b:c")));
        assert!(!t.matches("a:b", Some("c")));
    }

    #[test]
    fn rejects_empty_and_whitespace_only() {
        assert_eq!(Topic::parse(""), Err(TopicError::Empty));
        assert_eq!(Topic::parse("   "), Err(TopicError::Empty));
        assert_eq!(Topic::parse("\t\n"), Err(TopicError::Empty));
    }

    #[test]
    fn rejects_empty_kind_or_name() {
        assert!(matches!(
            Topic::parse(":x"),
            Err(TopicError::EmptyKind { .. })
        ));
        assert!(matches!(
            Topic::parse(":"),
            Err(TopicError::EmptyKind { .. })
        ));
        assert!(matches!(
            Topic::parse("x:"),
            Err(TopicError::EmptyName { .. })
        ));
    }

    #[test]
    fn rejects_whitespace_control_and_misplaced_wildcards() {
        for (s, found) in [
            (" closed", ' '),
            ("closed ", ' '),
            ("traffic: sent", ' '),
            ("a\u{0}b", '\u{0}'),
            ("*", '*'),
            ("*:x", '*'),
            ("a*:x", '*'),
            ("a:b*", '*'),
            ("a:**", '*'),
        ] {
            assert_eq!(
                Topic::parse(s),
                Err(TopicError::InvalidChar {
                    topic: s.to_owned(),
                    found
                }),
                "{s:?}"
            );
        }
    }

    #[test]
    fn error_messages_name_the_topic() {
        let message = Topic::parse("x:").unwrap_err().to_string();
        assert!(message.contains("\"x:\""), "{message}");
        let message = Topic::parse("a b").unwrap_err().to_string();
        assert!(
            message.contains("\"a b\"") && message.contains("' '"),
            "{message}"
        );
    }

    #[test]
    fn bare_kind_matches_only_unnamed_events_of_its_kind() {
        let t = topic("closed");
        assert!(t.matches("closed", None));
        assert!(!t.matches("closed", Some("x")));
        assert!(!t.matches("opened", None));
    }

    #[test]
    fn named_topic_matches_only_that_name() {
        let t = topic("traffic:sent");
        assert!(t.matches("traffic", Some("sent")));
        assert!(!t.matches("traffic", Some("received")));
        assert!(!t.matches("traffic", None));
        assert!(!t.matches("traffic", Some("*")));
        assert!(!t.matches("notification", Some("sent")));
    }

    #[test]
    fn wildcard_matches_every_event_of_its_kind() {
        let t = topic("notification:*");
        assert!(t.matches("notification", Some("OnConnected")));
        assert!(t.matches("notification", Some("*")));
        assert!(t.matches("notification", None));
        assert!(!t.matches("notifications", None));
        assert!(!t.matches("traffic", Some("OnConnected")));
    }

    #[test]
    fn from_str_and_try_from_agree_with_parse() {
        let a: Topic = "traffic:*".parse().unwrap();
        let b = Topic::try_from("traffic:*").unwrap();
        assert_eq!(a, b);
        assert_eq!(format!("{a:?}"), "Topic(\"traffic:*\")");
        assert!("x:".parse::<Topic>().is_err());
    }
}
