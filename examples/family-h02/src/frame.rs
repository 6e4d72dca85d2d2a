//! Cutting H02 lines from the stream: `*` up to and including `#`, with a streaming nom
//! parser. A text protocol has no length field and no checksum, so the framer's only guards
//! are the two delimiters and a bounded line:
//!
//! - bytes before a `*` (a `\r\n` after `#`, a binary `$` report, noise) are [`Piece::Noise`],
//!   consumed and ignored: the stream resynchronises at the next `*`;
//! - a `*` before the `#` ends the line that was cut short: it is noise, and the new line
//!   starts there;
//! - [`MAX_LINE`] bytes from `*` without `#` is [`Piece::TooLong`]: those bytes are dropped
//!   and the rest is noise up to the next `*`.
//!
//! Each decision needs only bytes already there and never changes when more arrive, so a
//! stream split anywhere is cut the same as whole.

use bytes::Bytes;
use nom::IResult;

/// The longest line read, `*` and `#` included. The longest lines in the wild (a `V1` with
/// vendor fields after the status, an `NBR` with seven cells) are under 200 bytes.
pub const MAX_LINE: usize = 1024;

/// What the front of the stream holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// A whole line, `*` through `#`.
    Line(Bytes),
    /// Bytes that belong to no line.
    Noise(usize),
    /// A line that reached the bound without `#`: its first bytes, dropped.
    TooLong(usize),
}

/// Cuts one piece of at most `max` bytes (at least 2; [`MAX_LINE`] unless a smaller message
/// size is configured) from the front of `input`; `Incomplete` until a line's `#` (or the
/// bound) has arrived.
pub fn parse_piece(input: &[u8], max: usize) -> IResult<&[u8], Piece> {
    let max = max.max(2);
    let Some((&first, rest)) = input.split_first() else {
        return Err(nom::Err::Incomplete(nom::Needed::new(1)));
    };
    if first != b'*' {
        // Noise is consumed in pieces of at most `max`, so no piece passes the adapter's limit.
        let noise = rest
            .iter()
            .position(|&b| b == b'*')
            .map_or(input.len(), |i| i + 1)
            .min(max);
        return Ok((&input[noise..], Piece::Noise(noise)));
    }
    let window = &rest[..rest.len().min(max - 1)];
    match window.iter().position(|&b| b == b'#' || b == b'*') {
        Some(i) if window[i] == b'#' => {
            let end = i + 2;
            Ok((
                &input[end..],
                Piece::Line(Bytes::copy_from_slice(&input[..end])),
            ))
        }
        Some(i) => Ok((&input[i + 1..], Piece::Noise(i + 1))),
        None if input.len() >= max => Ok((&input[max..], Piece::TooLong(max))),
        None => Err(nom::Err::Incomplete(nom::Needed::new(1))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(mut input: &[u8]) -> Vec<Piece> {
        let mut out = Vec::new();
        while let Ok((rest, piece)) = parse_piece(input, MAX_LINE) {
            out.push(piece);
            input = rest;
        }
        out
    }

    #[test]
    fn lines_are_cut_at_hash_and_noise_up_to_the_next_star() {
        let got = pieces(b"\r\n*HQ,1,HTBT#\r\n$\x01*HQ,1,V1*HQ,2,HTBT#*HQ");
        assert_eq!(
            got,
            vec![
                Piece::Noise(2),
                Piece::Line(Bytes::from_static(b"*HQ,1,HTBT#")),
                Piece::Noise(4),
                Piece::Noise(8),
                Piece::Line(Bytes::from_static(b"*HQ,2,HTBT#")),
            ]
        );
    }

    #[test]
    fn noise_is_consumed_in_bounded_pieces() {
        assert_eq!(pieces(&[b'x'; 10][..]), vec![Piece::Noise(10)]);
        let (rest, piece) = parse_piece(&[b'x'; 10], 4).unwrap();
        assert_eq!((rest.len(), piece), (6, Piece::Noise(4)));
    }

    #[test]
    fn a_line_without_hash_is_cut_at_the_bound() {
        let mut long = vec![b'*'];
        long.resize(MAX_LINE - 1, b'x');
        assert!(matches!(
            parse_piece(&long, MAX_LINE),
            Err(nom::Err::Incomplete(_))
        ));
        long.push(b'x');
        assert_eq!(
            parse_piece(&long, MAX_LINE).unwrap().1,
            Piece::TooLong(MAX_LINE)
        );
        long[MAX_LINE - 1] = b'#';
        assert!(
            matches!(parse_piece(&long, MAX_LINE).unwrap().1, Piece::Line(l) if l.len() == MAX_LINE)
        );
    }
}
