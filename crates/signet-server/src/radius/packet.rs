//! The packets of a PAP exchange: the Access-Request signetd sends (RFC 2865
//! §4.1, signed with a Message-Authenticator per RFC 3579 §3.2) and the checks
//! a reply passes before it is believed. Pure functions, no I/O.
//!
//! The `radius` crate encodes attributes and hides the User-Password (RFC 2865
//! §5.2). Everything about trusting a reply is here, because that crate's
//! client checks neither the Identifier nor the Response Authenticator.

use ::radius::core::avp::AVP;
use ::radius::core::packet::Packet;
use ::radius::core::rfc2865;
use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;

/// Code, Identifier, Length and Authenticator (RFC 2865 §3).
pub(crate) const HEADER: usize = 20;
/// RFC 2865 §3: the largest packet a client need accept.
pub(crate) const MAX_PACKET: usize = 4096;
/// RFC 2865 §5.2: a User-Password holds at most 128 octets.
pub const MAX_PASSWORD: usize = 128;
/// RFC 2865 §5: a text attribute holds at most 253 octets.
pub(crate) const MAX_TEXT: usize = 253;

const ACCESS_REQUEST: u8 = 1;
const ACCESS_ACCEPT: u8 = 2;
const ACCESS_REJECT: u8 = 3;
const ACCESS_CHALLENGE: u8 = 11;
/// Type, Length and 16 octets of HMAC-MD5 (RFC 3579 §3.2).
const MESSAGE_AUTHENTICATOR_LEN: usize = 18;

/// Attribute types (RFC 2865 §5, RFC 3579 §3.2) a caller may ask a reply for.
pub mod attribute {
    pub const USER_NAME: u8 = 1;
    pub const USER_PASSWORD: u8 = 2;
    pub const FILTER_ID: u8 = 11;
    pub const REPLY_MESSAGE: u8 = 18;
    pub const CLASS: u8 = 25;
    pub const NAS_IDENTIFIER: u8 = 32;
    pub const MESSAGE_AUTHENTICATOR: u8 = 80;
}

/// The attribute type a setting names: `Class`, `Filter-Id`, `Reply-Message`
/// (any case), or a type number from 1 to 255.
pub fn attribute_by_name(name: &str) -> Option<u8> {
    match name.to_ascii_lowercase().as_str() {
        "class" => Some(attribute::CLASS),
        "filter-id" => Some(attribute::FILTER_ID),
        "reply-message" => Some(attribute::REPLY_MESSAGE),
        number => number.parse::<u8>().ok().filter(|n| *n != 0),
    }
}

/// Why a reply was not believed. Such a reply is dropped, as RFC 2865 §3 asks,
/// and the client goes on waiting for a good one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadReply {
    #[error("its Response Authenticator does not verify; is the shared secret the server's?")]
    ResponseAuthenticator,
    #[error(
        "it carries no Message-Authenticator, which require_message_authenticator demands \
         (the BlastRADIUS mitigation, CVE-2024-3596)"
    )]
    MissingMessageAuthenticator,
    #[error("its Message-Authenticator does not verify")]
    MessageAuthenticator,
    #[error("it is malformed: {0}")]
    Malformed(&'static str),
    #[error("its code {0} does not answer an Access-Request")]
    UnexpectedCode(u8),
}

/// The attributes of an Access-Accept, in the order the server sent them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplyAttributes(Vec<(u8, Vec<u8>)>);

impl ReplyAttributes {
    /// Every value of one attribute type, as sent.
    pub fn octets(&self, attribute: u8) -> impl Iterator<Item = &[u8]> {
        self.0.iter().filter(move |(t, _)| *t == attribute).map(|(_, v)| v.as_slice())
    }

    /// Every value of one attribute type that is UTF-8 text; any other is left out.
    pub fn strings(&self, attribute: u8) -> Vec<&str> {
        self.octets(attribute).filter_map(|v| std::str::from_utf8(v).ok()).collect()
    }

    /// The `Class` values (RFC 2865 §5.25) that are text.
    pub fn class(&self) -> Vec<&str> {
        self.strings(attribute::CLASS)
    }

    /// The `Filter-Id` values (RFC 2865 §5.11) that are text.
    pub fn filter_id(&self) -> Vec<&str> {
        self.strings(attribute::FILTER_ID)
    }
}

/// An encoded Access-Request, sent as is on every retransmission (RFC 5080
/// §2.2.1: same Identifier, same Request Authenticator).
pub(crate) struct Request {
    bytes: Vec<u8>,
}

impl Request {
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn identifier(&self) -> u8 {
        self.bytes[1]
    }

    fn authenticator(&self) -> &[u8] {
        &self.bytes[4..HEADER]
    }
}

/// What a datagram that came back turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Another request's Identifier: not an answer to this one.
    NotOurs,
    Bad(BadReply),
    Accept(ReplyAttributes),
    Reject,
    Challenge,
}

/// Encodes an Access-Request. The caller checks the lengths first; what this
/// returns as an error is a length the caller let through.
pub(crate) fn access_request(
    secret: &[u8],
    identifier: u8,
    authenticator: [u8; 16],
    user_name: &str,
    password: &[u8],
    nas_identifier: &str,
) -> Result<Request, &'static str> {
    // `Packet::new` draws the Request Authenticator from `rand`; decoding a bare
    // header lets the caller's CSPRNG choose it, and the Identifier, instead.
    let mut header = [0u8; HEADER];
    header[0] = ACCESS_REQUEST;
    header[1] = identifier;
    header[2..4].copy_from_slice(&(HEADER as u16).to_be_bytes());
    header[4..].copy_from_slice(&authenticator);
    let mut packet = Packet::decode(&header, secret).map_err(|_| "the header does not encode")?;
    // First, as RFC 3579 §3.2 allows and the BlastRADIUS advisories recommend.
    packet.add(AVP::from_bytes(attribute::MESSAGE_AUTHENTICATOR, &[0; 16]));
    rfc2865::add_user_name(&mut packet, user_name);
    rfc2865::add_user_password(&mut packet, password).map_err(|_| "the password does not encode")?;
    rfc2865::add_nas_identifier(&mut packet, nas_identifier);
    let mut bytes = packet.encode().map_err(|_| "the packet is too large")?;
    if bytes.get(HEADER) != Some(&attribute::MESSAGE_AUTHENTICATOR) {
        return Err("the Message-Authenticator is not where it was put");
    }
    // RFC 3579 §3.2: HMAC-MD5 over the whole packet, the attribute's value zero.
    let mac = hmac_md5(secret, &bytes)?;
    bytes[HEADER + 2..HEADER + MESSAGE_AUTHENTICATOR_LEN].copy_from_slice(&mac);
    Ok(Request { bytes })
}

/// Checks a datagram received on the socket `request` was sent from.
pub(crate) fn check_reply(datagram: &[u8], request: &Request, secret: &[u8], require_ma: bool) -> Verdict {
    if datagram.len() < HEADER {
        return Verdict::Bad(BadReply::Malformed("shorter than a RADIUS header"));
    }
    if datagram[1] != request.identifier() {
        return Verdict::NotOurs;
    }
    let length = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
    if !(HEADER..=MAX_PACKET).contains(&length) || length > datagram.len() {
        return Verdict::Bad(BadReply::Malformed("its Length does not fit the datagram"));
    }
    // RFC 2865 §3: octets past Length are padding, outside every check.
    let reply = &datagram[..length];
    if !Packet::is_authentic_response(reply, request.bytes(), secret) {
        return Verdict::Bad(BadReply::ResponseAuthenticator);
    }
    let attributes = match parse_attributes(&reply[HEADER..]) {
        Ok(attributes) => attributes,
        Err(bad) => return Verdict::Bad(bad),
    };
    // RFC 3579 §3.2: when present it is always checked. Requiring it is the
    // BlastRADIUS mitigation: an attacker who can forge an MD5 chosen-prefix
    // collision can fix up the Response Authenticator, but not an HMAC.
    let mut positions = attributes.iter().filter(|a| a.kind == attribute::MESSAGE_AUTHENTICATOR);
    match (positions.next(), positions.next()) {
        (None, _) if require_ma => return Verdict::Bad(BadReply::MissingMessageAuthenticator),
        (None, _) => {}
        (Some(ma), None) => {
            if ma.len != MESSAGE_AUTHENTICATOR_LEN {
                return Verdict::Bad(BadReply::Malformed("its Message-Authenticator is not 16 octets"));
            }
            let mut signed = reply.to_vec();
            signed[4..HEADER].copy_from_slice(request.authenticator());
            signed[ma.at + 2..ma.at + MESSAGE_AUTHENTICATOR_LEN].fill(0);
            if !hmac_md5_verifies(secret, &signed, &reply[ma.at + 2..ma.at + MESSAGE_AUTHENTICATOR_LEN]) {
                return Verdict::Bad(BadReply::MessageAuthenticator);
            }
        }
        (Some(_), Some(_)) => return Verdict::Bad(BadReply::Malformed("it carries two Message-Authenticators")),
    }
    match reply[0] {
        ACCESS_ACCEPT => Verdict::Accept(ReplyAttributes(
            attributes.into_iter().map(|a| (a.kind, reply[a.at + 2..a.at + a.len].to_vec())).collect(),
        )),
        ACCESS_REJECT => Verdict::Reject,
        ACCESS_CHALLENGE => Verdict::Challenge,
        code => Verdict::Bad(BadReply::UnexpectedCode(code)),
    }
}

/// Where one attribute sits in the reply (offset counted from the packet start).
struct Located {
    kind: u8,
    at: usize,
    len: usize,
}

fn parse_attributes(body: &[u8]) -> Result<Vec<Located>, BadReply> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let (Some(&kind), Some(&len)) = (body.get(i), body.get(i + 1)) else {
            return Err(BadReply::Malformed("an attribute is cut short"));
        };
        let len = usize::from(len);
        if len < 2 || i + len > body.len() {
            return Err(BadReply::Malformed("an attribute's length does not fit"));
        }
        found.push(Located { kind, at: HEADER + i, len });
        i += len;
    }
    Ok(found)
}

fn hmac_md5(secret: &[u8], data: &[u8]) -> Result<[u8; 16], &'static str> {
    let mut mac = <Hmac<Md5> as KeyInit>::new_from_slice(secret).map_err(|_| "the shared secret is no HMAC key")?;
    mac.update(data);
    Ok(mac.finalize().into_bytes().into())
}

/// Compares in constant time.
fn hmac_md5_verifies(secret: &[u8], data: &[u8], tag: &[u8]) -> bool {
    match <Hmac<Md5> as KeyInit>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(data);
            mac.verify_slice(tag).is_ok()
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    // RFC 2865 §7.1: user nemo, password arctangent, secret xyzzy5461.
    const RFC_SECRET: &[u8] = b"xyzzy5461";
    const RFC_AUTHENTICATOR: &str = "0f403f9473978057bd83d5cb98f4227a";
    const RFC_HIDDEN_PASSWORD: &str = "0dbe708d93d413ce3196e43f782a0aee";
    const RFC_ACCEPT: &str = "02000026 86fe220e7624ba2a1005f6bf9b55e0b2 0606000000010f06000000000e06c0a80103";

    fn rfc_request() -> Request {
        let authenticator: [u8; 16] = hex(RFC_AUTHENTICATOR).try_into().unwrap();
        access_request(RFC_SECRET, 0, authenticator, "nemo", b"arctangent", "signetd").unwrap()
    }

    fn attribute_of(packet: &[u8], kind: u8) -> Vec<Vec<u8>> {
        let attrs = parse_attributes(&packet[HEADER..]).unwrap();
        attrs.iter().filter(|a| a.kind == kind).map(|a| packet[a.at + 2..a.at + a.len].to_vec()).collect()
    }

    #[test]
    fn the_password_is_hidden_as_rfc_2865_section_7_1_shows() {
        let request = rfc_request();
        assert_eq!(attribute_of(request.bytes(), attribute::USER_PASSWORD), vec![hex(RFC_HIDDEN_PASSWORD)]);
        assert_eq!(attribute_of(request.bytes(), attribute::USER_NAME), vec![b"nemo".to_vec()]);
        assert_eq!(attribute_of(request.bytes(), attribute::NAS_IDENTIFIER), vec![b"signetd".to_vec()]);
    }

    #[test]
    fn the_request_is_signed_with_a_message_authenticator_first() {
        let request = rfc_request();
        let bytes = request.bytes();
        assert_eq!(&bytes[HEADER..HEADER + 2], &[attribute::MESSAGE_AUTHENTICATOR, 18]);
        let mut zeroed = bytes.to_vec();
        zeroed[HEADER + 2..HEADER + 18].fill(0);
        assert!(hmac_md5_verifies(RFC_SECRET, &zeroed, &bytes[HEADER + 2..HEADER + 18]));
        assert_eq!(usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), bytes.len());
    }

    #[test]
    fn the_rfc_accept_verifies_when_a_message_authenticator_is_not_required() {
        let verdict = check_reply(&hex(RFC_ACCEPT), &rfc_request(), RFC_SECRET, false);
        let Verdict::Accept(attributes) = verdict else { panic!("{verdict:?}") };
        assert_eq!(attributes.octets(6).collect::<Vec<_>>(), vec![&[0, 0, 0, 1][..]]);
    }

    #[test]
    fn the_rfc_accept_is_refused_when_a_message_authenticator_is_required() {
        let verdict = check_reply(&hex(RFC_ACCEPT), &rfc_request(), RFC_SECRET, true);
        assert_eq!(verdict, Verdict::Bad(BadReply::MissingMessageAuthenticator));
    }

    #[test]
    fn a_reply_checked_with_another_secret_is_refused() {
        let verdict = check_reply(&hex(RFC_ACCEPT), &rfc_request(), b"xyzzy5462", false);
        assert_eq!(verdict, Verdict::Bad(BadReply::ResponseAuthenticator));
    }

    #[test]
    fn padding_past_length_is_ignored() {
        let mut padded = hex(RFC_ACCEPT);
        padded.extend_from_slice(&[0xff; 7]);
        assert!(matches!(check_reply(&padded, &rfc_request(), RFC_SECRET, false), Verdict::Accept(_)));
    }

    #[test]
    fn another_identifier_is_not_ours() {
        let mut reply = hex(RFC_ACCEPT);
        reply[1] = 1;
        assert_eq!(check_reply(&reply, &rfc_request(), RFC_SECRET, false), Verdict::NotOurs);
    }

    #[test]
    fn truncated_and_overlong_replies_are_malformed() {
        let reply = hex(RFC_ACCEPT);
        let short = check_reply(&reply[..HEADER - 1], &rfc_request(), RFC_SECRET, false);
        assert!(matches!(short, Verdict::Bad(BadReply::Malformed(_))), "{short:?}");
        let cut = check_reply(&reply[..reply.len() - 1], &rfc_request(), RFC_SECRET, false);
        assert!(matches!(cut, Verdict::Bad(BadReply::Malformed(_))), "{cut:?}");
    }

    #[test]
    fn attribute_names_resolve() {
        assert_eq!(attribute_by_name("Class"), Some(25));
        assert_eq!(attribute_by_name("filter-id"), Some(11));
        assert_eq!(attribute_by_name("26"), Some(26));
        assert_eq!(attribute_by_name("0"), None);
        assert_eq!(attribute_by_name("Framed-Pool"), None);
    }
}
