//! Fit and cover resizing on RGB images.
//!
//! `image`'s filtered resize runs every tap through an f32 RGBA buffer; shrinking a 12 MP frame
//! to 1080p took ~0.6 s of the whole job. When the source is at least twice the target on both
//! sides, an area average (each target pixel the mean of the source pixels it covers:
//! `imageops::thumbnail`) is both the right filter (no aliasing) and several times faster.
//! Below a factor of two it would alias, so the triangle filter is used there.

use image::RgbImage;
use image::imageops::{self, FilterType};

/// Scales down to fit `max_w`×`max_h` keeping the aspect ratio; never scales up.
pub fn fit_within(image: RgbImage, max_w: u32, max_h: u32) -> RgbImage {
    let (nw, nh) = fit_dimensions(image.dimensions(), max_w, max_h);
    if (nw, nh) == image.dimensions() {
        return image;
    }
    shrink(&image, nw, nh)
}

/// The size [`fit_within`] produces for an image of `(w, h)`.
pub fn fit_dimensions((w, h): (u32, u32), max_w: u32, max_h: u32) -> (u32, u32) {
    if w <= max_w && h <= max_h {
        return (w, h);
    }
    let (w64, h64, mw, mh) = (
        u64::from(w),
        u64::from(h),
        u64::from(max_w),
        u64::from(max_h),
    );
    // Compare aspect ratios in integers: width-bound when w/h >= max_w/max_h.
    let (nw, nh) = if w64 * mh >= h64 * mw {
        (mw, div_round(h64 * mw, w64))
    } else {
        (div_round(w64 * mh, h64), mh)
    };
    (to_u32(nw), to_u32(nh))
}

/// Scales so that both sides cover `tw`×`th` (keeping the aspect ratio), then crops the
/// centre: the output is exactly `tw`×`th`. Sources smaller than the target are enlarged.
pub fn cover(image: &RgbImage, tw: u32, th: u32) -> RgbImage {
    let (w, h) = image.dimensions();
    let (w64, h64, t64w, t64h) = (u64::from(w), u64::from(h), u64::from(tw), u64::from(th));
    // Height-bound when the source is relatively wider than the target: its sides overflow.
    let (nw, nh) = if w64 * t64h >= h64 * t64w {
        (div_ceil(w64 * t64h, h64).max(t64w), t64h)
    } else {
        (t64w, div_ceil(h64 * t64w, w64).max(t64h))
    };
    let (nw, nh) = (to_u32(nw), to_u32(nh));
    let scaled = if (nw, nh) == (w, h) {
        image.clone()
    } else if nw <= w && nh <= h {
        shrink(image, nw, nh)
    } else {
        imageops::resize(image, nw, nh, FilterType::Triangle)
    };
    imageops::crop_imm(&scaled, (nw - tw) / 2, (nh - th) / 2, tw, th).to_image()
}

/// Shrinks to exactly `nw`×`nh` (both no larger than the source).
fn shrink(image: &RgbImage, nw: u32, nh: u32) -> RgbImage {
    let (w, h) = image.dimensions();
    if w >= 2 * nw && h >= 2 * nh {
        imageops::thumbnail(image, nw, nh)
    } else {
        imageops::resize(image, nw, nh, FilterType::Triangle)
    }
}

fn div_round(n: u64, d: u64) -> u64 {
    ((n + d / 2) / d).max(1)
}

fn div_ceil(n: u64, d: u64) -> u64 {
    n.div_ceil(d).max(1)
}

/// The results are bounded by a `u32` target side, so this never saturates in practice.
fn to_u32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank(w: u32, h: u32) -> RgbImage {
        RgbImage::new(w, h)
    }

    #[test]
    fn fitting_keeps_the_aspect_ratio_on_the_binding_side() {
        assert_eq!(
            fit_within(blank(4000, 3000), 1920, 1080).dimensions(),
            (1440, 1080)
        );
        assert_eq!(
            fit_within(blank(3840, 1200), 1920, 1080).dimensions(),
            (1920, 600)
        );
        assert_eq!(
            fit_within(blank(2560, 1440), 1920, 1080).dimensions(),
            (1920, 1080)
        );
        assert_eq!(
            fit_within(blank(10_000, 3), 1920, 1080).dimensions(),
            (1920, 1)
        );
    }

    #[test]
    fn covering_gives_the_exact_size_for_any_aspect() {
        for (w, h) in [
            (4000, 3000),
            (2000, 400),
            (300, 900),
            (321, 241),
            (1, 1),
            (320, 240),
        ] {
            assert_eq!(
                cover(&blank(w, h), 320, 240).dimensions(),
                (320, 240),
                "{w}x{h}"
            );
        }
    }

    #[test]
    fn covering_crops_the_centre() {
        // Left third black, middle white, right third black: a 3:1 strip covered to 1:1
        // keeps only the middle.
        let strip = RgbImage::from_fn(900, 300, |x, _| {
            if (300..600).contains(&x) {
                image::Rgb([255; 3])
            } else {
                image::Rgb([0; 3])
            }
        });
        let square = cover(&strip, 100, 100);
        assert!(square.pixels().all(|p| p.0[0] > 200));
    }
}
