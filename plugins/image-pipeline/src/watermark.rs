//! The text stamp in the bottom-left corner of the main image.
//!
//! Font choice: DejaVu Sans (bytes compiled in by the `dejavu` crate, so no font file has to be
//! found at run time: the original system's missing font broke its image job) rasterised with
//! `ab_glyph`. That is anti-aliased and legible at any size, and costs only `ab_glyph` +
//! `ttf-parser` to build. `imageproc`'s `draw_text_mut` would have pulled nalgebra, rand and
//! friends for a dozen lines of blending done here; `font8x8` is lighter still, but an 8×8
//! bitmap scaled to 30 px is blocky and hard to read on a busy frame.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use image::RgbImage;

/// Text stamped on the main image, one entry a line (e.g. the local timestamp and the event).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watermark {
    pub lines: Vec<String>,
}

/// How much of the background the box keeps: 0.45 darkens any frame enough for white text
/// while the scene stays visible through it.
const BOX_KEEP: f32 = 0.45;

fn font() -> &'static FontRef<'static> {
    static FONT: OnceLock<FontRef<'static>> = OnceLock::new();
    FONT.get_or_init(|| {
        // The bytes are a font we ship and test; failing here is a build defect, not input.
        FontRef::try_from_slice(dejavu::sans::regular()).expect("bundled DejaVu Sans parses")
    })
}

/// Text height in pixels for an image of this height: ~30 px on 1080p, never below 14 px.
fn text_px(image_height: u32) -> f32 {
    (image_height as f32 / 36.0).clamp(14.0, 48.0)
}

/// Draws `watermark` bottom-left: a dark semi-transparent box with white text on it.
/// Text that does not fit the width is clipped; an empty watermark leaves the image untouched.
pub fn stamp(image: &mut RgbImage, watermark: &Watermark) {
    let lines: Vec<&str> = watermark
        .lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return;
    }
    let px = text_px(image.height());
    let scale = PxScale::from(px);
    let font = font().as_scaled(scale);
    let line_height = font.ascent() - font.descent() + font.line_gap();
    let pad = (px * 0.4).round();
    let margin = (px * 0.5).round();

    let text_width = lines
        .iter()
        .map(|l| line_width(&font, l))
        .fold(0.0_f32, f32::max);
    let box_w = text_width + 2.0 * pad;
    let box_h = line_height * lines.len() as f32 + 2.0 * pad;
    let box_x = margin;
    let box_y = image.height() as f32 - margin - box_h;
    darken(image, box_x, box_y, box_w, box_h);

    for (i, line) in lines.iter().enumerate() {
        let baseline = box_y + pad + font.ascent() + line_height * i as f32;
        draw_line(image, &font, line, box_x + pad, baseline);
    }
}

fn line_width(font: &impl ScaleFont<&'static FontRef<'static>>, text: &str) -> f32 {
    let mut width = 0.0;
    let mut previous = None;
    for ch in text.chars() {
        let id = font.glyph_id(ch);
        if let Some(p) = previous {
            width += font.kern(p, id);
        }
        width += font.h_advance(id);
        previous = Some(id);
    }
    width
}

fn darken(image: &mut RgbImage, x: f32, y: f32, w: f32, h: f32) {
    let (iw, ih) = image.dimensions();
    let x0 = x.max(0.0) as u32;
    let y0 = y.max(0.0) as u32;
    let x1 = ((x + w).max(0.0) as u32).min(iw);
    let y1 = ((y + h).max(0.0) as u32).min(ih);
    for py in y0..y1 {
        for px in x0..x1 {
            for c in &mut image.get_pixel_mut(px, py).0 {
                *c = (f32::from(*c) * BOX_KEEP).round() as u8;
            }
        }
    }
}

fn draw_line(
    image: &mut RgbImage,
    font: &impl ScaleFont<&'static FontRef<'static>>,
    text: &str,
    x: f32,
    baseline: f32,
) {
    let (iw, ih) = image.dimensions();
    let mut caret = point(x, baseline);
    let mut previous = None;
    for ch in text.chars() {
        let id = font.glyph_id(ch);
        if let Some(p) = previous {
            caret.x += font.kern(p, id);
        }
        let glyph = id.with_scale_and_position(font.scale(), caret);
        caret.x += font.h_advance(id);
        previous = Some(id);
        let Some(outline) = font.font().outline_glyph(glyph) else {
            continue; // spaces and glyphs with no outline
        };
        let bounds = outline.px_bounds();
        outline.draw(|gx, gy, coverage| {
            let px = bounds.min.x as i64 + i64::from(gx);
            let py = bounds.min.y as i64 + i64::from(gy);
            if px < 0 || py < 0 || px >= i64::from(iw) || py >= i64::from(ih) {
                return;
            }
            let coverage = coverage.clamp(0.0, 1.0);
            for c in &mut image.get_pixel_mut(px as u32, py as u32).0 {
                *c = (f32::from(*c) * (1.0 - coverage) + 255.0 * coverage).round() as u8;
            }
        });
    }
}
