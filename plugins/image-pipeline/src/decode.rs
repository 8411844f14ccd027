//! Decoding untrusted bytes with limits that apply before the pixel buffer is allocated.

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use crate::ImageError;

/// Bounds on what the decoder may accept. Uploads are at most 10 MB, but compressed formats
/// (PNG above all) can declare dimensions far beyond what the bytes suggest, so the bounds
/// are on the decoded image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLimits {
    /// Widest accepted image, in pixels.
    pub max_width: u32,
    /// Tallest accepted image, in pixels.
    pub max_height: u32,
    /// Most memory the decoder may allocate, decoded pixel buffer included.
    pub max_alloc_bytes: u64,
}

impl Default for ImageLimits {
    /// 12,000 px a side (a 100+ MP camera is still accepted) and 256 MiB of decoder memory
    /// (an 85 MP RGB frame): a few worker threads cannot exhaust a small server together.
    fn default() -> Self {
        Self {
            max_width: 12_000,
            max_height: 12_000,
            max_alloc_bytes: 256 * 1024 * 1024,
        }
    }
}

/// Decodes `bytes` (format recognised by content) and applies the EXIF orientation.
///
/// Only the header is parsed before the dimensions and the buffer size are checked against
/// `limits`; a bomb is rejected without allocating its pixels.
pub fn decode(bytes: &[u8], limits: &ImageLimits) -> Result<DynamicImage, ImageError> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ImageError::Corrupt(e.to_string()))?;
    match reader.format() {
        None => return Err(ImageError::Unsupported),
        Some(ImageFormat::Jpeg) if !jpeg_is_complete(bytes) => {
            return Err(ImageError::Corrupt(
                "truncated JPEG: no end-of-image marker after the last scan".into(),
            ));
        }
        Some(_) => {}
    }
    // The decoders' own allocations (PNG chunks, GIF frames) are capped while the header is
    // read; the dimensions are compared below so the error can name them.
    let mut header_limits = Limits::default();
    header_limits.max_alloc = Some(limits.max_alloc_bytes);
    reader.limits(header_limits);

    let mut decoder = reader.into_decoder().map_err(from_image_error)?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(ImageError::Corrupt("image has no pixels".into()));
    }
    if width > limits.max_width || height > limits.max_height {
        return Err(ImageError::TooLarge { width, height });
    }
    if decoder.total_bytes() > limits.max_alloc_bytes {
        return Err(ImageError::LimitsExceeded);
    }
    // A camera that writes a wrong or unreadable EXIF block still has a usable picture.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(from_image_error)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// The JPEG decoder is lenient: a file cut short decodes "successfully" with the missing part
/// painted grey, which for an upload means a broken transfer. A complete JPEG has an EOI
/// marker (FF D9) after its last SOS marker (FF DA); neither pair can occur inside entropy
/// coded data (an FF there is always followed by 00), and an EXIF thumbnail's own markers
/// come before the main image's scan, so they cannot satisfy this check for it.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let Some(last_scan) = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]) else {
        return false;
    };
    bytes[last_scan..].windows(2).any(|w| w == [0xFF, 0xD9])
}

fn from_image_error(error: image::ImageError) -> ImageError {
    use image::ImageError as E;
    match error {
        E::Limits(_) => ImageError::LimitsExceeded,
        E::Unsupported(_) => ImageError::Unsupported,
        E::Encoding(e) => ImageError::Encode(e.to_string()),
        // A truncated file surfaces as an I/O error (unexpected end of the in-memory reader).
        E::Decoding(_) | E::Parameter(_) | E::IoError(_) => ImageError::Corrupt(error.to_string()),
    }
}
