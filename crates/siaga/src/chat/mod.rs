//! Text commands over chat (SPEC 5.2): the OtomaX convention resellers order by,
//! `PRODUCT.DEST.PIN`, taken by a Telegram bot. The pure parts: reading a command
//! ([`command`]), the replies resellers know ([`reply`]), the bot's decisions and short
//! words ([`decide`]), PINs and link codes ([`pin`]). The IO: the Bot API calls
//! ([`telegram`]), what one message gets ([`answer`]) and the long-polling worker
//! ([`bot`]), started by the server when `[channels.telegram]` is set.

pub mod answer;
pub mod bot;
pub mod command;
pub mod decide;
pub mod pin;
pub mod reply;
pub mod telegram;
