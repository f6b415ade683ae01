//! Entity kinds and their stable names (the keys of actions and counts on the Python side).

/// What a span is. Built-in kinds have fixed names; `Custom(i)` is the `i`-th per-tenant pattern
/// of its scanner and is named by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Email,
    Phone,
    CreditCard,
    Iban,
    UsSsn,
    IpAddress,
    MacAddress,
    CloudKey,
    Jwt,
    BearerToken,
    PrivateKey,
    DenyWord,
    Custom(u16),
}

impl Kind {
    /// Every built-in kind, in the order of [`Kind::index`].
    pub const BUILTIN: [Kind; 12] = [
        Kind::Email,
        Kind::Phone,
        Kind::CreditCard,
        Kind::Iban,
        Kind::UsSsn,
        Kind::IpAddress,
        Kind::MacAddress,
        Kind::CloudKey,
        Kind::Jwt,
        Kind::BearerToken,
        Kind::PrivateKey,
        Kind::DenyWord,
    ];

    /// The stable name of a built-in kind (`None` for a custom pattern: its scanner names it).
    pub fn builtin_name(self) -> Option<&'static str> {
        Some(match self {
            Self::Email => "EMAIL",
            Self::Phone => "PHONE",
            Self::CreditCard => "CREDIT_CARD",
            Self::Iban => "IBAN",
            Self::UsSsn => "US_SSN",
            Self::IpAddress => "IP_ADDRESS",
            Self::MacAddress => "MAC_ADDRESS",
            Self::CloudKey => "CLOUD_KEY",
            Self::Jwt => "JWT",
            Self::BearerToken => "BEARER_TOKEN",
            Self::PrivateKey => "PRIVATE_KEY",
            Self::DenyWord => "DENY_WORD",
            Self::Custom(_) => return None,
        })
    }

    /// Dense index: built-ins first, then custom patterns (for per-kind tables such as actions).
    pub fn index(self) -> usize {
        match self {
            Self::Custom(i) => Self::BUILTIN.len() + usize::from(i),
            k => Self::BUILTIN.iter().position(|&b| b == k).unwrap_or(0),
        }
    }

    /// Inverse of [`Kind::index`].
    pub fn from_index(i: usize) -> Kind {
        Self::BUILTIN
            .get(i)
            .copied()
            .unwrap_or_else(|| Kind::Custom((i - Self::BUILTIN.len()) as u16))
    }

    /// Tie-break between candidates with the same start and end: the lower rank wins. Secrets
    /// first (a JWT inside a longer structure is still a JWT), custom patterns and deny words last.
    pub(crate) fn rank(self) -> u8 {
        match self {
            Self::PrivateKey => 0,
            Self::Jwt => 1,
            Self::CloudKey => 2,
            Self::BearerToken => 3,
            Self::CreditCard => 4,
            Self::Iban => 5,
            Self::UsSsn => 6,
            Self::Phone => 7,
            Self::Email => 8,
            Self::MacAddress => 9,
            Self::IpAddress => 10,
            Self::Custom(_) => 11,
            Self::DenyWord => 12,
        }
    }
}
