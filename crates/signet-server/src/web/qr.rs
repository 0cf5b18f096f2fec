//! QR codes for authenticator apps: the qrcode crate lays the modules out,
//! and the template `parts/qr.html` draws them as SVG, so no markup is
//! built outside a template.

use qrcode::render::{Canvas, Pixel};

/// A QR code ready to draw: its size in pixels and its dark rectangles.
pub(super) struct Qr {
    pub width: u32,
    pub height: u32,
    pub dark: Vec<Dark>,
}

/// One dark rectangle of a QR code, in pixels.
pub(super) struct Dark {
    pub left: u32,
    pub top: u32,
    pub width: u32,
    pub height: u32,
}

impl Qr {
    /// `text` as a QR code at least `size` pixels across, or None when it
    /// is too long to encode.
    pub(super) fn new(text: &str, size: u32) -> Option<Qr> {
        let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
        Some(code.render::<Module>().min_dimensions(size, size).build())
    }
}

/// A module of the code; the colours are the template's.
#[derive(Clone, Copy)]
pub(super) struct Module;

impl Pixel for Module {
    type Image = Qr;
    type Canvas = Qr;

    fn default_color(_: qrcode::Color) -> Self {
        Module
    }
}

impl Canvas for Qr {
    type Pixel = Module;
    type Image = Qr;

    fn new(width: u32, height: u32, _dark: Module, _light: Module) -> Self {
        Qr { width, height, dark: Vec::new() }
    }

    fn draw_dark_pixel(&mut self, x: u32, y: u32) {
        self.draw_dark_rect(x, y, 1, 1);
    }

    fn draw_dark_rect(&mut self, left: u32, top: u32, width: u32, height: u32) {
        self.dark.push(Dark { left, top, width, height });
    }

    fn into_image(self) -> Qr {
        self
    }
}

#[cfg(test)]
mod tests {
    use askama::Template;

    use super::Qr;

    #[derive(Template)]
    #[template(source = r#"{% include "parts/qr.html" %}"#, ext = "html")]
    struct Drawn {
        qr: Qr,
    }

    #[test]
    fn the_template_draws_what_the_qrcode_crate_draws() {
        let uri = "otpauth://totp/signet:ada?secret=JBSWY3DPEHPK3PXP&issuer=signet";
        for size in [1, 192, 300] {
            let code = qrcode::QrCode::new(uri.as_bytes()).unwrap();
            let theirs = code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(size, size).build();
            let ours = Drawn { qr: Qr::new(uri, size).unwrap() }.render().unwrap();
            assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn text_too_long_for_a_code_draws_none() {
        assert!(Qr::new(&"x".repeat(8000), 192).is_none());
    }
}
