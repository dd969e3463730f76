//! The Nexmark event model: which event number is a person, an auction or a bid, and the
//! values of each, following Beam's `NexmarkGenerator` (and nexmark-flink) with its default
//! configuration.
//!
//! Called by the nexmark reader (`nexmark.rs`), one event at a time. Every random value of
//! event `n` comes from its own [`SplitMix64`] seeded with `(seed, n)`, as Beam seeds a
//! `java.util.Random` with the event number, so the person, auction and bid streams, read
//! independently, see one consistent event sequence, and a reader can start at any event.
//! Strings are slices of two pools of random letters made once per seed. This module does
//! no I/O and knows nothing of Arrow.

use crate::connector::generator::{SplitMix64, mix64};

/// Events per epoch of the 1:3:46 person/auction/bid mix.
pub const PROPORTION_TOTAL: u64 = 50;
const PERSON_PROPORTION: u64 = 1;
const AUCTION_PROPORTION: u64 = 3;
/// The first person and auction ids.
pub const FIRST_PERSON_ID: i64 = 1000;
/// The first auction id.
pub const FIRST_AUCTION_ID: i64 = 1000;
const FIRST_CATEGORY_ID: i64 = 10;
const NUM_CATEGORIES: u64 = 5;
const NUM_ACTIVE_PEOPLE: u64 = 1000;
/// Auctions considered in flight: bids pick among the last this many (plus a lead).
pub const NUM_IN_FLIGHT_AUCTIONS: u64 = 100;
/// How many ids past the last person or auction a random pick may go.
pub const ID_LEAD: u64 = 10;
const HOT_AUCTION_RATIO: u64 = 2;
const HOT_SELLERS_RATIO: u64 = 4;
const HOT_BIDDERS_RATIO: u64 = 4;
/// Hot ids are the first of each batch of this many.
const HOT_BATCH: u64 = 100;
const HOT_CHANNELS_RATIO: u64 = 2;
const HOT_CHANNELS: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];
const CHANNELS_NUMBER: u64 = 10_000;
const AVG_PERSON_BYTES: usize = 200;
const AVG_AUCTION_BYTES: usize = 500;
const AVG_BID_BYTES: usize = 100;
const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];
const US_CITIES: [&str; 10] =
    ["Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"];
const FIRST_NAMES: [&str; 11] =
    ["Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"];
const LAST_NAMES: [&str; 9] = ["Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"];
/// Length of each string pool.
const POOL: usize = 1 << 20;
/// Salts that keep the pools' and channels' random streams apart from the events'.
const LETTERS_SALT: u64 = 0x6c65_7474_6572_7300;
const SPACED_SALT: u64 = 0x7370_6163_6564_0000;
const URL_SALT: u64 = 0x7572_6c73_0000_0000;

/// The kind of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A new person.
    Person,
    /// A new auction.
    Auction,
    /// A bid on an auction.
    Bid,
}

impl Kind {
    /// The kind of event `n`.
    pub fn of(n: u64) -> Kind {
        match n % PROPORTION_TOTAL {
            r if r < PERSON_PROPORTION => Kind::Person,
            r if r < PERSON_PROPORTION + AUCTION_PROPORTION => Kind::Auction,
            _ => Kind::Bid,
        }
    }

    /// The first event at or after `n` of this kind.
    pub fn next_at_or_after(self, n: u64) -> u64 {
        let (epoch, offset) = (n / PROPORTION_TOTAL, n % PROPORTION_TOTAL);
        let (first, end) = match self {
            Kind::Person => (0, PERSON_PROPORTION),
            Kind::Auction => (PERSON_PROPORTION, PERSON_PROPORTION + AUCTION_PROPORTION),
            Kind::Bid => (PERSON_PROPORTION + AUCTION_PROPORTION, PROPORTION_TOTAL),
        };
        match offset {
            o if o < first => epoch * PROPORTION_TOTAL + first,
            o if o < end => n,
            _ => (epoch + 1) * PROPORTION_TOTAL + first,
        }
    }
}

/// A field value of an event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// A number (ids, prices, category).
    Int(i64),
    /// Text.
    Text(&'a str),
    /// Epoch milliseconds.
    Time(i64),
}

/// A new person.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub id: i64,
    pub name: String,
    pub email_address: String,
    pub credit_card: String,
    pub city: &'static str,
    pub state: &'static str,
    pub date_time: i64,
    pub extra: String,
}

/// A new auction.
#[derive(Debug, Clone, PartialEq)]
pub struct Auction<'a> {
    pub id: i64,
    pub item_name: &'a str,
    pub description: &'a str,
    pub initial_bid: i64,
    pub reserve: i64,
    pub date_time: i64,
    pub expires: i64,
    pub seller: i64,
    pub category: i64,
    pub extra: &'a str,
}

/// A bid.
#[derive(Debug, Clone, PartialEq)]
pub struct Bid<'a> {
    pub auction: i64,
    pub bidder: i64,
    pub price: i64,
    pub channel: &'a str,
    pub url: &'a str,
    pub date_time: i64,
    pub extra: &'a str,
}

impl Person {
    /// Field `i` in the order of [`PERSON_FIELDS`](super::PERSON_FIELDS).
    pub fn value(&self, i: usize) -> Value<'_> {
        match i {
            0 => Value::Int(self.id),
            1 => Value::Text(&self.name),
            2 => Value::Text(&self.email_address),
            3 => Value::Text(&self.credit_card),
            4 => Value::Text(self.city),
            5 => Value::Text(self.state),
            6 => Value::Time(self.date_time),
            _ => Value::Text(&self.extra),
        }
    }
}

impl Auction<'_> {
    /// Field `i` in the order of [`AUCTION_FIELDS`](super::AUCTION_FIELDS).
    pub fn value(&self, i: usize) -> Value<'_> {
        match i {
            0 => Value::Int(self.id),
            1 => Value::Text(self.item_name),
            2 => Value::Text(self.description),
            3 => Value::Int(self.initial_bid),
            4 => Value::Int(self.reserve),
            5 => Value::Time(self.date_time),
            6 => Value::Time(self.expires),
            7 => Value::Int(self.seller),
            8 => Value::Int(self.category),
            _ => Value::Text(self.extra),
        }
    }
}

impl Bid<'_> {
    /// Field `i` in the order of [`BID_FIELDS`](super::BID_FIELDS).
    pub fn value(&self, i: usize) -> Value<'_> {
        match i {
            0 => Value::Int(self.auction),
            1 => Value::Int(self.bidder),
            2 => Value::Int(self.price),
            3 => Value::Text(self.channel),
            4 => Value::Text(self.url),
            5 => Value::Time(self.date_time),
            _ => Value::Text(self.extra),
        }
    }
}

/// The generator of one seed and timeline: pools of random text and the channel table.
#[derive(Debug, Clone)]
pub struct Model {
    seed: u64,
    base_ms: i64,
    event_rate: u64,
    /// Lowercase letters, for `extra`.
    letters: String,
    /// Lowercase letters and about one space in 13, for names and descriptions.
    spaced: String,
    hot_urls: Vec<String>,
    channels: Vec<String>,
    channel_urls: Vec<String>,
}

impl Model {
    /// The model for `seed`, with event 0 at `base_ms` and `event_rate` events per second of
    /// event time (at least 1).
    pub fn new(seed: u64, base_ms: i64, event_rate: u64) -> Model {
        let letters = pool(SplitMix64::for_item(seed, LETTERS_SALT), 0);
        let spaced = pool(SplitMix64::for_item(seed, SPACED_SALT), 1);
        let url_seed = mix64(seed ^ URL_SALT);
        let hot_urls =
            (0..HOT_CHANNELS.len() as u64).map(|i| base_url(&mut SplitMix64::for_item(!url_seed, i))).collect();
        let (channels, channel_urls) = (0..CHANNELS_NUMBER).map(|k| channel(url_seed, k)).unzip();
        Model { seed, base_ms, event_rate: event_rate.max(1), letters, spaced, hot_urls, channels, channel_urls }
    }

    /// The event time of event `n`: `base + n / event_rate` seconds, truncated to the
    /// millisecond.
    pub fn time_ms(&self, n: u64) -> i64 {
        let offset = match n.checked_mul(1000) {
            Some(ms) => ms / self.event_rate,
            None => (u128::from(n) * 1000 / u128::from(self.event_rate)) as u64,
        };
        self.base_ms.saturating_add(i64::try_from(offset).unwrap_or(i64::MAX))
    }

    /// Person event `n` (which must be of kind [`Kind::Person`]).
    pub fn person(&self, n: u64) -> Person {
        let r = &mut SplitMix64::for_item(self.seed, n);
        let id = last_base0_person(n) as i64 + FIRST_PERSON_ID;
        let name = format!("{} {}", pick(r, &FIRST_NAMES), pick(r, &LAST_NAMES));
        let email_address = format!("{}@{}.com", self.next_string(r, 7), self.next_string(r, 5));
        let cards: Vec<u64> = (0..4).map(|_| r.below(10_000)).collect();
        let credit_card = format!("{:04} {:04} {:04} {:04}", cards[0], cards[1], cards[2], cards[3]);
        let (city, state) = (pick(r, &US_CITIES), pick(r, &US_STATES));
        let size = 8 + name.len() + email_address.len() + credit_card.len() + city.len() + state.len();
        let extra = self.next_extra(r, size, AVG_PERSON_BYTES).to_string();
        Person { id, name, email_address, credit_card, city, state, date_time: self.time_ms(n), extra }
    }

    /// Auction event `n` (which must be of kind [`Kind::Auction`]).
    pub fn auction(&self, n: u64) -> Auction<'_> {
        let r = &mut SplitMix64::for_item(self.seed, n);
        let id = last_base0_auction(n) as i64 + FIRST_AUCTION_ID;
        let seller = if r.below(HOT_SELLERS_RATIO) > 0 {
            last_base0_person(n) / HOT_BATCH * HOT_BATCH
        } else {
            next_base0_person(n, r)
        } as i64;
        let category = FIRST_CATEGORY_ID + r.below(NUM_CATEGORIES) as i64;
        let initial_bid = next_price(r);
        let date_time = self.time_ms(n);
        let horizon = self.time_ms(n + NUM_IN_FLIGHT_AUCTIONS * PROPORTION_TOTAL / AUCTION_PROPORTION) - date_time;
        let expires = date_time + 1 + r.below((horizon * 2).max(1) as u64) as i64;
        let item_name = self.next_string(r, 20);
        let description = self.next_string(r, 100);
        let reserve = initial_bid + next_price(r);
        let extra = self.next_extra(r, 48 + item_name.len() + description.len(), AVG_AUCTION_BYTES);
        let seller = seller + FIRST_PERSON_ID;
        Auction { id, item_name, description, initial_bid, reserve, date_time, expires, seller, category, extra }
    }

    /// Bid event `n` (which must be of kind [`Kind::Bid`]).
    pub fn bid(&self, n: u64) -> Bid<'_> {
        let r = &mut SplitMix64::for_item(self.seed, n);
        let auction = if r.below(HOT_AUCTION_RATIO) > 0 {
            last_base0_auction(n) / HOT_BATCH * HOT_BATCH
        } else {
            next_base0_auction(n, r)
        } as i64;
        let bidder = if r.below(HOT_BIDDERS_RATIO) > 0 {
            last_base0_person(n) / HOT_BATCH * HOT_BATCH + 1
        } else {
            next_base0_person(n, r)
        } as i64;
        let price = next_price(r);
        let (channel, url) = if r.below(HOT_CHANNELS_RATIO) > 0 {
            let i = r.below(HOT_CHANNELS.len() as u64) as usize;
            (HOT_CHANNELS[i], self.hot_urls[i].as_str())
        } else {
            let k = r.below(CHANNELS_NUMBER) as usize;
            (self.channels[k].as_str(), self.channel_urls[k].as_str())
        };
        let extra = self.next_extra(r, 32, AVG_BID_BYTES);
        let (auction, bidder) = (auction + FIRST_AUCTION_ID, bidder + FIRST_PERSON_ID);
        Bid { auction, bidder, price, channel, url, date_time: self.time_ms(n), extra }
    }

    /// Beam's `nextString(random, max_len)`: 3 to `max_len - 1` characters, about one in 13
    /// a space, trimmed.
    fn next_string(&self, r: &mut SplitMix64, max_len: usize) -> &str {
        let len = 3 + r.below(max_len as u64 - 3) as usize;
        let at = r.below((POOL - len) as u64) as usize;
        self.spaced[at..at + len].trim()
    }

    /// Beam's `nextExtra`: letters that bring an event of `size` bytes to about `average`
    /// (within 20%).
    fn next_extra(&self, r: &mut SplitMix64, size: usize, average: usize) -> &str {
        if size > average {
            return "";
        }
        let wanted = average - size;
        let delta = (wanted as f64 * 0.2 + 0.5).floor() as usize;
        let len = wanted - delta + if delta == 0 { 0 } else { r.below(2 * delta as u64) as usize };
        let at = r.below((POOL - len) as u64) as usize;
        &self.letters[at..at + len]
    }
}

/// Base-0 id of the last person created at or before event `n`: the epoch's, as each
/// epoch starts with its one person.
pub fn last_base0_person(n: u64) -> u64 {
    n / PROPORTION_TOTAL
}

/// Base-0 id of the last auction created at or before event `n` (0 before the first).
pub fn last_base0_auction(n: u64) -> u64 {
    let (epoch, offset) = (n / PROPORTION_TOTAL, n % PROPORTION_TOTAL);
    if offset < PERSON_PROPORTION {
        (epoch * AUCTION_PROPORTION).saturating_sub(1)
    } else {
        epoch * AUCTION_PROPORTION + (offset - PERSON_PROPORTION).min(AUCTION_PROPORTION - 1)
    }
}

/// A recent person, or one of the next few to come.
fn next_base0_person(n: u64, r: &mut SplitMix64) -> u64 {
    let people = last_base0_person(n) + 1;
    let active = people.min(NUM_ACTIVE_PEOPLE);
    people - active + r.below(active + ID_LEAD)
}

/// An auction likely still in flight, or one of the next few to come.
fn next_base0_auction(n: u64, r: &mut SplitMix64) -> u64 {
    let last = last_base0_auction(n);
    let first = last.saturating_sub(NUM_IN_FLIGHT_AUCTIONS);
    first + r.below(last - first + 1 + ID_LEAD)
}

/// Beam's `nextPrice`: log-uniform from 1.00 to 1,000,000.00 (in cents).
fn next_price(r: &mut SplitMix64) -> i64 {
    (10f64.powf(r.unit() * 6.0) * 100.0 + 0.5).floor() as i64
}

fn pick<T: Copy>(r: &mut SplitMix64, from: &[T]) -> T {
    from[r.below(from.len() as u64) as usize]
}

/// `POOL` random lowercase letters; with `spaces`, one character in 13 is a space instead
/// (`spaces` is 0 or 1).
fn pool(mut r: SplitMix64, spaces: u64) -> String {
    let mut out = Vec::with_capacity(POOL);
    while out.len() < POOL {
        let bits = r.next_u64();
        for k in 0..8 {
            let byte = (bits >> (8 * k)) as u8;
            if byte >= 234 {
                continue; // 234 = 9 * 26: keep the letters uniform
            }
            let space = spaces == 1 && byte.is_multiple_of(13);
            out.push(if space { b' ' } else { b'a' + byte % 26 });
        }
    }
    out.truncate(POOL);
    String::from_utf8(out).unwrap_or_default()
}

/// Beam's `getBaseUrl`: three short random path segments.
fn base_url(r: &mut SplitMix64) -> String {
    let mut segment = || -> String {
        let len = 3 + r.below(2);
        (0..len).map(|_| if r.below(13) == 0 { '_' } else { (b'a' + r.below(26) as u8) as char }).collect()
    };
    let (a, b, c) = (segment(), segment(), segment());
    format!("https://www.nexmark.com/{a}/{b}/{c}/item.htm?query=1")
}

/// Channel `k`: its name and URL (nine in ten carry a `channel_id`).
fn channel(url_seed: u64, k: u64) -> (String, String) {
    let r = &mut SplitMix64::for_item(url_seed, k);
    let mut url = base_url(r);
    if r.below(10) > 0 {
        url.push_str(&format!("&channel_id={}", (k as i32).reverse_bits().unsigned_abs()));
    }
    (format!("channel-{k}"), url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_is_1_3_46() {
        let kinds: Vec<Kind> = (0..100).map(Kind::of).collect();
        let count = |k| kinds.iter().filter(|&&x| x == k).count();
        assert_eq!((count(Kind::Person), count(Kind::Auction), count(Kind::Bid)), (2, 6, 92));
        assert_eq!(
            (Kind::of(0), Kind::of(1), Kind::of(3), Kind::of(4), Kind::of(49)),
            (Kind::Person, Kind::Auction, Kind::Auction, Kind::Bid, Kind::Bid)
        );
    }

    #[test]
    fn next_event_of_a_kind() {
        for n in 0..200 {
            for kind in [Kind::Person, Kind::Auction, Kind::Bid] {
                let expected = (n..).find(|&m| Kind::of(m) == kind).unwrap();
                assert_eq!(kind.next_at_or_after(n), expected, "{kind:?} after {n}");
            }
        }
    }

    #[test]
    fn ids_follow_the_event_numbers() {
        let m = Model::new(1, 0, 10_000);
        assert_eq!(m.person(0).id, 1000);
        assert_eq!(m.person(50).id, 1001);
        assert_eq!((m.auction(1).id, m.auction(3).id, m.auction(51).id), (1000, 1002, 1003));
        assert_eq!(last_base0_auction(0), 0);
        assert_eq!(last_base0_auction(50), 2);
        assert_eq!(last_base0_auction(60), 5);
    }

    #[test]
    fn values_are_in_the_model_ranges() {
        let m = Model::new(3, 1_000, 10_000);
        for n in (0..20_000).filter(|&n| Kind::of(n) == Kind::Bid) {
            let b = m.bid(n);
            assert!((100..=100_000_000).contains(&b.price), "{b:?}");
            assert!((54..=81).contains(&b.extra.len()), "{b:?}");
            assert!(b.url.starts_with("https://www.nexmark.com/"), "{b:?}");
            assert_eq!(b.date_time, 1_000 + n as i64 / 10);
        }
        let a = m.auction(51);
        assert!(a.reserve > a.initial_bid && a.expires > a.date_time && (10..15).contains(&a.category));
        let p = m.person(100);
        assert_eq!(p.credit_card.len(), 19);
        assert!(p.email_address.ends_with(".com") && p.name.contains(' '));
    }

    #[test]
    fn pools_are_letters_with_some_spaces() {
        let m = Model::new(0, 0, 1);
        assert!(m.letters.bytes().all(|b| b.is_ascii_lowercase()));
        let spaces = m.spaced.bytes().filter(|&b| b == b' ').count();
        assert!((POOL / 15..POOL / 11).contains(&spaces), "{spaces}");
    }
}
