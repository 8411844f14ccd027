//! # cctv-image
//!
//! The CPU part of cctv's event image job: turn the picture a device uploaded into
//! the two JPEGs the product serves.
//!
//! - **Bounded decode** ([`decode`]): the format is taken from the content, and the decoder gets
//!   [`ImageLimits`] *before* it allocates, so a 20000×20000 PNG that compresses to a few
//!   kilobytes (a decompression bomb) is refused from its header instead of asking for
//!   gigabytes. Corrupt or truncated files give an [`ImageError`], never a panic; a panic inside
//!   a codec is caught as a last line of defence and reported as [`ImageError::Corrupt`].
//! - **Main image**: scaled down to fit 1920×1080 keeping the aspect ratio (a 4000×3000 photo
//!   becomes 1440×1080; a 640×480 frame is left alone: upscaling only adds bytes and blur),
//!   stamped with a readable watermark ([`watermark`]) and re-encoded as JPEG quality 85.
//! - **Thumbnail**: exactly 320×240 by *cover* (scale until both sides fill, then crop the
//!   centre), so list views get a uniform grid whatever the camera's aspect ratio. It is cut
//!   before the watermark is stamped, from the fitted main image when that still covers
//!   320×240 (cheaper), else from the decoded frame (a very wide panorama is not enlarged
//!   from an already reduced copy).
//!
//! ```no_run
//! use cctv_image::{process_event_image, ImageLimits, Watermark};
//! # let upload: Vec<u8> = Vec::new();
//! let watermark = Watermark { lines: vec!["2026-11-28 00:30:00 WIB".into(), "Event #42".into()] };
//! let out = process_event_image(&upload, &watermark, &ImageLimits::default())?;
//! assert!(out.main.width <= 1920 && out.main.height <= 1080);
//! assert_eq!((out.thumbnail.width, out.thumbnail.height), (320, 240));
//! # Ok::<(), cctv_image::ImageError>(())
//! ```
//!
//! [`EventImageProcessor`] is this pipeline behind `cctv_core::media::ImageProcessor`, the
//! trait the image worker calls; register it with `Core::builder().image_processor(…)`.
//!
//! The work is CPU-bound (≈0.2 s for a 1080p frame, ≈0.6 s for 12 MP in release): callers run
//! it on a blocking thread or a `SyncArbiter`, never on an async executor thread.

pub mod decode;
mod plugin;
pub mod resize;
pub mod watermark;

#[cfg(test)]
mod tests;

use std::panic::{AssertUnwindSafe, catch_unwind};

use image::RgbImage;
use image::codecs::jpeg::JpegEncoder;

pub use crate::decode::ImageLimits;
pub use crate::plugin::EventImageProcessor;
pub use crate::watermark::Watermark;

/// The main image fits inside this box (1080p).
pub const MAIN_MAX: (u32, u32) = (1920, 1080);
/// The thumbnail is exactly this size.
pub const THUMBNAIL_SIZE: (u32, u32) = (320, 240);
/// JPEG quality of both outputs (the original system's main-image quality).
pub const JPEG_QUALITY: u8 = 85;

/// Why an image could not be processed. The job that calls this should not retry any of
/// these except perhaps [`ImageError::Encode`]: the same bytes will fail the same way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// The bytes are not a well-formed image of their format (truncated, damaged).
    #[error("corrupt image: {0}")]
    Corrupt(String),
    /// The header declares dimensions beyond [`ImageLimits`]; nothing was allocated for it.
    #[error("image of {width}×{height} exceeds the size limits")]
    TooLarge { width: u32, height: u32 },
    /// Decoding would need more memory than [`ImageLimits::max_alloc_bytes`].
    #[error("image needs more memory than the limits allow")]
    LimitsExceeded,
    /// Not a format we accept (JPEG, PNG, WebP, GIF, BMP), or an unsupported variant of one.
    #[error("unsupported image format or feature")]
    Unsupported,
    /// Encoding the output failed.
    #[error("could not encode image: {0}")]
    Encode(String),
}

/// One encoded output image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedImage {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// Always `"image/jpeg"`.
    pub mime: &'static str,
}

/// The two images the event image job stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessedImage {
    /// Fitted into 1920×1080, watermarked.
    pub main: EncodedImage,
    /// Exactly 320×240, cropped to cover, no watermark.
    pub thumbnail: EncodedImage,
}

/// Decodes `bytes` within `limits`, and produces the watermarked main image and the thumbnail.
pub fn process_event_image(
    bytes: &[u8],
    watermark: &Watermark,
    limits: &ImageLimits,
) -> Result<ProcessedImage, ImageError> {
    // Codecs are written to return errors, but a panic on hostile input must not take the
    // worker thread (and, under actix, the actor) with it.
    catch_unwind(AssertUnwindSafe(|| {
        process_unguarded(bytes, watermark, limits)
    }))
    .unwrap_or_else(|panic| {
        let reason = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "decoder panicked".to_owned());
        Err(ImageError::Corrupt(reason))
    })
}

fn process_unguarded(
    bytes: &[u8],
    watermark: &Watermark,
    limits: &ImageLimits,
) -> Result<ProcessedImage, ImageError> {
    // Alpha is dropped: both outputs are JPEG, and camera frames are opaque anyway. A JPEG
    // decodes to RGB8 already, so this moves the buffer without copying.
    let decoded = decode::decode(bytes, limits)?.into_rgb8();

    let (tw, th) = THUMBNAIL_SIZE;
    let (fw, fh) = resize::fit_dimensions(decoded.dimensions(), MAIN_MAX.0, MAIN_MAX.1);
    // The fitted main image (before stamping) is a cheaper source for the thumbnail than the
    // full frame (≈0.1 s less for 12 MP) as long as it still covers 320×240.
    let (mut main, thumb) = if fw >= tw && fh >= th {
        let main = resize::fit_within(decoded, MAIN_MAX.0, MAIN_MAX.1);
        let thumb = resize::cover(&main, tw, th);
        (main, thumb)
    } else {
        let thumb = resize::cover(&decoded, tw, th);
        (resize::fit_within(decoded, MAIN_MAX.0, MAIN_MAX.1), thumb)
    };
    watermark::stamp(&mut main, watermark);

    Ok(ProcessedImage {
        main: encode_jpeg(&main)?,
        thumbnail: encode_jpeg(&thumb)?,
    })
}

fn encode_jpeg(image: &RgbImage) -> Result<EncodedImage, ImageError> {
    // Roughly 1 byte per 6 pixels at quality 85 for camera frames: avoids most regrowth.
    let mut bytes = Vec::with_capacity((image.width() * image.height() / 6) as usize);
    JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY)
        .encode_image(image)
        .map_err(|e| ImageError::Encode(e.to_string()))?;
    Ok(EncodedImage {
        bytes,
        width: image.width(),
        height: image.height(),
        mime: "image/jpeg",
    })
}
