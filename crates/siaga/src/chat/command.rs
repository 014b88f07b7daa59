//! Reading a chat message into a command (SPEC 5.2), and the same-day repeat rule: the
//! same product to the same number again on one day needs a counter
//! (`PRODUCT.DEST.2.PIN`); without one the bot asks for it rather than guessing. Pure.

/// What a chat message asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `PRODUCT.DEST.PIN` or `PRODUCT.DEST.N.PIN`.
    Order {
        product: String,
        destination: String,
        counter: Option<u32>,
        pin: String,
    },
    /// `SAL.PIN`.
    Balance { pin: String },
    /// `CEK.DEST.PIN` or `CEK.REF_ID.PIN`.
    Status { what: String, pin: String },
    /// `HARGA [GROUP]`.
    Prices { group: Option<String> },
    /// `/start CODE` or `DAFTAR CODE`: links this chat to a reseller.
    Link { code: String },
    /// `HELP`, `/help`, `/start` without a code.
    Help,
}

/// Why a message is not a command; the reply is the short help text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotACommand {
    Empty,
    Unknown,
    /// A PIN must be 4 to 8 digits.
    BadPin,
    /// A counter must be 1 to 99.
    BadCounter,
}

/// The largest same-day counter.
pub const MAX_COUNTER: u32 = 99;

fn pin(s: &str) -> Result<String, NotACommand> {
    let s = s.trim();
    if (4..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s.to_owned())
    } else {
        Err(NotACommand::BadPin)
    }
}

fn word(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_:/".contains(&b))
}

/// Reads one message. Keywords are case-insensitive; a product code is taken in upper
/// case; spaces around the dots are ignored.
pub fn parse(text: &str) -> Result<Command, NotACommand> {
    let text = text.trim();
    if text.is_empty() {
        return Err(NotACommand::Empty);
    }
    let mut words = text.split_whitespace();
    let first = words.next().unwrap_or_default();
    let upper = first.to_ascii_uppercase();
    // `/start@bot CODE` in groups.
    let head = upper.split('@').next().unwrap_or_default();
    if head == "/START" || head == "DAFTAR" {
        return Ok(match words.next() {
            Some(code) if word(code) => Command::Link {
                code: code.to_owned(),
            },
            Some(_) => return Err(NotACommand::Unknown),
            None => Command::Help,
        });
    }
    if head == "HELP" || head == "/HELP" {
        return Ok(Command::Help);
    }
    if head == "HARGA" || head == "/HARGA" {
        let rest: Vec<&str> = words.collect();
        return Ok(Command::Prices {
            group: (!rest.is_empty()).then(|| rest.join(" ")),
        });
    }
    let parts: Vec<&str> = text.split('.').map(str::trim).collect();
    let key = parts[0].to_ascii_uppercase();
    match (key.as_str(), parts.len()) {
        ("SAL", 2) => Ok(Command::Balance {
            pin: pin(parts[1])?,
        }),
        ("CEK", 3) if word(parts[1]) => Ok(Command::Status {
            what: parts[1].to_owned(),
            pin: pin(parts[2])?,
        }),
        (_, 3 | 4) if word(parts[0]) && word(parts[1]) => {
            let counter = match parts.len() {
                4 => Some(
                    parts[2]
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=MAX_COUNTER).contains(n))
                        .ok_or(NotACommand::BadCounter)?,
                ),
                _ => None,
            };
            Ok(Command::Order {
                product: key,
                destination: parts[1].to_owned(),
                counter,
                pin: pin(parts[parts.len() - 1])?,
            })
        }
        _ => Err(NotACommand::Unknown),
    }
}

/// The same-day repeat rule's answer for an order whose product and destination already
/// had `earlier` orders today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// Place it as that day's order number `n`.
    Place(u32),
    /// Refuse and ask for this counter (`PRODUCT.DEST.n.PIN`).
    AskCounter(u32),
    /// That counter was used already today: refuse, naming the next one.
    Used { counter: u32, next: u32 },
}

/// Decides a chat order against the day's earlier orders of the same product and number.
pub fn repeat(earlier: u32, counter: Option<u32>) -> Repeat {
    let next = earlier + 1;
    match counter {
        None if earlier == 0 => Repeat::Place(1),
        None => Repeat::AskCounter(next),
        Some(c) if c == next => Repeat::Place(c),
        Some(c) if c <= earlier => Repeat::Used { counter: c, next },
        Some(_) => Repeat::AskCounter(next),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(p: &str, d: &str, c: Option<u32>, pin: &str) -> Command {
        Command::Order {
            product: p.into(),
            destination: d.into(),
            counter: c,
            pin: pin.into(),
        }
    }

    #[test]
    fn reads_the_otomax_convention() {
        assert_eq!(
            parse("TSEL10.081234567890.1234"),
            Ok(order("TSEL10", "081234567890", None, "1234"))
        );
        assert_eq!(
            parse(" tsel10 . 081234567890 . 2 . 1234 "),
            Ok(order("TSEL10", "081234567890", Some(2), "1234"))
        );
        assert_eq!(
            parse("sal.1234"),
            Ok(Command::Balance { pin: "1234".into() })
        );
        assert_eq!(
            parse("CEK.081234567890.1234"),
            Ok(Command::Status {
                what: "081234567890".into(),
                pin: "1234".into()
            })
        );
        assert_eq!(parse("HARGA"), Ok(Command::Prices { group: None }));
        assert_eq!(
            parse("harga Telkomsel Pulsa"),
            Ok(Command::Prices {
                group: Some("Telkomsel Pulsa".into())
            })
        );
        assert_eq!(
            parse("/start AB12CD"),
            Ok(Command::Link {
                code: "AB12CD".into()
            })
        );
        assert_eq!(
            parse("DAFTAR AB12CD"),
            Ok(Command::Link {
                code: "AB12CD".into()
            })
        );
        assert_eq!(parse("/start"), Ok(Command::Help));
        assert_eq!(parse("help"), Ok(Command::Help));
    }

    #[test]
    fn refuses_what_is_not_a_command() {
        assert_eq!(parse("  "), Err(NotACommand::Empty));
        assert_eq!(parse("halo bang"), Err(NotACommand::Unknown));
        assert_eq!(parse("TSEL10.0812.12"), Err(NotACommand::BadPin));
        assert_eq!(parse("TSEL10.0812.1234x"), Err(NotACommand::BadPin));
        assert_eq!(parse("TSEL10.0812.0.1234"), Err(NotACommand::BadCounter));
        assert_eq!(parse("TSEL10.0812.100.1234"), Err(NotACommand::BadCounter));
        assert_eq!(parse("TSEL10..1234"), Err(NotACommand::Unknown));
        assert_eq!(parse("A.B.C.D.E"), Err(NotACommand::Unknown));
        assert_eq!(parse("SAL"), Err(NotACommand::Unknown));
    }

    #[test]
    fn a_same_day_repeat_needs_the_next_counter() {
        assert_eq!(repeat(0, None), Repeat::Place(1));
        assert_eq!(repeat(0, Some(1)), Repeat::Place(1));
        assert_eq!(repeat(1, None), Repeat::AskCounter(2));
        assert_eq!(repeat(1, Some(2)), Repeat::Place(2));
        assert_eq!(
            repeat(2, Some(2)),
            Repeat::Used {
                counter: 2,
                next: 3
            }
        );
        assert_eq!(repeat(1, Some(5)), Repeat::AskCounter(2));
    }
}
