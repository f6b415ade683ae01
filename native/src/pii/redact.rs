//! Actions per kind and their application to scanned text.

use super::entity::Kind;
use super::error::PiiError;
use super::scanner::{Scanner, Span};

/// What to do with an entity of some kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Leave it, do not count it.
    Allow,
    /// Leave it, count it.
    Log,
    /// Replace it with `[KIND]`.
    Redact,
    /// Replace it with a partial mask (see [`mask`]).
    Mask,
    /// Replace it with `[KIND]` and report the kind as blocked (the caller refuses or cuts).
    Block,
}

impl Action {
    pub fn from_name(name: &str) -> Result<Self, PiiError> {
        Ok(match name {
            "allow" => Self::Allow,
            "log" => Self::Log,
            "redact" => Self::Redact,
            "mask" => Self::Mask,
            "block" => Self::Block,
            _ => return Err(PiiError::UnknownAction(name.into())),
        })
    }
}

/// The action of every kind of one scanner; kinds not set are redacted (fail closed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actions {
    table: Vec<Action>,
}

impl Actions {
    pub fn new(scanner: &Scanner) -> Self {
        Self {
            table: vec![Action::Redact; scanner.kind_count()],
        }
    }

    /// Actions from `(kind name, action name)` pairs.
    pub fn from_names<'a>(
        scanner: &Scanner,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, PiiError> {
        let mut actions = Self::new(scanner);
        for (kind, action) in pairs {
            let k = scanner
                .kind_by_name(kind)
                .ok_or_else(|| PiiError::UnknownKind(kind.into()))?;
            actions.set(k, Action::from_name(action)?);
        }
        Ok(actions)
    }

    pub fn set(&mut self, kind: Kind, action: Action) {
        if let Some(slot) = self.table.get_mut(kind.index()) {
            *slot = action;
        }
    }

    pub fn get(&self, kind: Kind) -> Action {
        self.table
            .get(kind.index())
            .copied()
            .unwrap_or(Action::Redact)
    }
}

/// Entities seen per kind (all actions but allow) and the kinds whose action is block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    counts: Vec<u64>,
    blocked: Vec<bool>,
}

impl Tally {
    fn add(&mut self, kind: Kind, block: bool) {
        let i = kind.index();
        if self.counts.len() <= i {
            self.counts.resize(i + 1, 0);
            self.blocked.resize(i + 1, false);
        }
        self.counts[i] += 1;
        self.blocked[i] |= block;
    }

    /// `(kind, count)` for the kinds seen, in kind order.
    pub fn counts(&self) -> impl Iterator<Item = (Kind, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(i, &n)| (Kind::from_index(i), n))
    }

    /// The kinds seen whose action is block, in kind order.
    pub fn blocked(&self) -> impl Iterator<Item = Kind> + '_ {
        self.blocked
            .iter()
            .enumerate()
            .filter(|(_, &b)| b)
            .map(|(i, _)| Kind::from_index(i))
    }

    pub fn is_blocked(&self) -> bool {
        self.blocked.iter().any(|&b| b)
    }
}

impl Scanner {
    /// Redacts a whole text: the new text and what was seen.
    pub fn redact(&self, text: &str, actions: &Actions) -> (String, Tally) {
        let mut out = String::with_capacity(text.len());
        let mut tally = Tally::default();
        let spans = self.scan(text);
        apply(
            self,
            actions,
            text,
            (0, text.len()),
            &spans,
            &mut out,
            &mut tally,
        );
        (out, tally)
    }
}

/// Appends `text[from..to]` to `out` with the `spans` (inside that range, in order) handled by
/// their actions, counting them in `tally`.
pub(crate) fn apply(
    scanner: &Scanner,
    actions: &Actions,
    text: &str,
    (from, to): (usize, usize),
    spans: &[Span],
    out: &mut String,
    tally: &mut Tally,
) {
    let mut at = from;
    for span in spans {
        let action = actions.get(span.kind);
        if action == Action::Allow {
            continue;
        }
        tally.add(span.kind, action == Action::Block);
        if action == Action::Log {
            continue;
        }
        out.push_str(&text[at..span.start]);
        let entity = &text[span.start..span.end];
        let masked = action == Action::Mask && mask(span.kind, entity, out);
        if !masked {
            out.push('[');
            out.push_str(scanner.kind_name(span.kind));
            out.push(']');
        }
        at = span.end;
    }
    out.push_str(&text[at..to]);
}

/// Appends a partial mask of `entity`, or returns false when its kind is only ever replaced
/// whole (private keys, JWTs, bearer tokens: long, and any part may matter).
///
/// E-mail: the first char of the local part, then `*` for each other char of it, then the
/// domain (`j*******@example.com`). Others: each letter or digit becomes `*` except the last
/// four when there are at least eight (`************1111`, `***-**-6789`); separators stay.
fn mask(kind: Kind, entity: &str, out: &mut String) -> bool {
    match kind {
        Kind::PrivateKey | Kind::Jwt | Kind::BearerToken => false,
        Kind::Email => {
            let at = entity.find('@').unwrap_or(0);
            let mut local = entity[..at].chars();
            out.extend(local.next());
            out.extend(local.map(|_| '*'));
            out.push_str(&entity[at..]);
            true
        }
        _ => {
            let alnum = entity.chars().filter(|c| c.is_alphanumeric()).count();
            let mut hide = if alnum >= 8 { alnum - 4 } else { alnum };
            for c in entity.chars() {
                if hide > 0 && c.is_alphanumeric() {
                    out.push('*');
                    hide -= 1;
                } else {
                    out.push(c);
                }
            }
            true
        }
    }
}
