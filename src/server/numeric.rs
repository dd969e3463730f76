//! Postgres's binary `numeric`: a value's base-10000 digits with their weight, sign and
//! display scale (`numeric_send`). arrow-pg sends a decimal column with the column's one
//! scale; a numeric quotient has a scale per value (`server::text::shown_quotients`), so
//! `types` encodes those columns here. (arrow-pg's `rust_decimal`, which could carry a
//! scale per value, holds 28 digits; a quotient has up to 38.)

/// The sign word of a negative numeric.
const NEGATIVE: u16 = 0x4000;

/// `digits` (a decimal of scale `scale`) as Postgres's binary numeric of that display scale.
pub(super) fn numeric_binary(digits: i128, scale: u32) -> Vec<u8> {
    let magnitude = digits.unsigned_abs();
    let unit = 10u128.pow(scale);
    let (whole, fraction) = (magnitude / unit, magnitude % unit);
    // The fraction's digits, padded to whole base-10000 digits.
    let padding = (4 - scale % 4) % 4;
    let mut fraction = fraction * 10u128.pow(padding);
    let mut groups: Vec<i16> = Vec::new();
    for _ in 0..(scale + padding) / 4 {
        groups.push((fraction % 10_000) as i16);
        fraction /= 10_000;
    }
    let fraction_groups = groups.len();
    let mut whole = whole;
    while whole > 0 {
        groups.push((whole % 10_000) as i16);
        whole /= 10_000;
    }
    groups.reverse();
    let mut weight = groups.len() as i16 - fraction_groups as i16 - 1;
    let leading = groups.iter().take_while(|&&g| g == 0).count();
    groups.drain(..leading);
    weight -= leading as i16;
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let sign = if digits < 0 && !groups.is_empty() { NEGATIVE } else { 0 };
    let mut bytes = Vec::with_capacity(8 + 2 * groups.len());
    bytes.extend((groups.len() as i16).to_be_bytes());
    bytes.extend(weight.to_be_bytes());
    bytes.extend(sign.to_be_bytes());
    bytes.extend((scale as i16).to_be_bytes());
    for group in groups {
        bytes.extend(group.to_be_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header words and digits of an encoded numeric.
    fn words(bytes: &[u8]) -> Vec<i32> {
        let mut out: Vec<i32> = bytes.chunks(2).map(|w| i32::from(i16::from_be_bytes([w[0], w[1]]))).collect();
        out[2] = i32::from(u16::from_be_bytes([bytes[4], bytes[5]]));
        out
    }

    #[test]
    fn values_have_postgres_digits_weight_sign_and_scale() {
        // 1.5000000000000000: one digit before the point, 5000 after; display scale 16.
        assert_eq!(words(&numeric_binary(15_000_000_000_000_000, 16)), [2, 0, 0, 16, 1, 5000]);
        // 0.33333333333333333333 (scale 20): weight -1, five digits.
        assert_eq!(
            words(&numeric_binary(33_333_333_333_333_333_333, 20)),
            [5, -1, 0, 20, 3333, 3333, 3333, 3333, 3333]
        );
        // -12345.6: digits 1, 2345, 6000.
        assert_eq!(words(&numeric_binary(-123_456, 1)), [3, 1, 0x4000, 1, 1, 2345, 6000]);
        // 0.0001 and zero.
        assert_eq!(words(&numeric_binary(1, 4)), [1, -1, 0, 4, 1]);
        assert_eq!(words(&numeric_binary(0, 2)), [0, 0, 0, 2]);
        // 20000: one digit of weight 1.
        assert_eq!(words(&numeric_binary(20_000, 0)), [1, 1, 0, 0, 2]);
    }
}
