//! Text commands over chat (SPEC 5.2): the OtomaX convention resellers order by,
//! `PRODUCT.DEST.PIN`. So far the pure parts: reading a command ([`command`]) and writing
//! the replies resellers know, with rupiah written the Indonesian way ([`reply`]). The
//! Telegram long-polling worker, chat linking and PINs are not built yet (README).

pub mod command;
pub mod reply;
