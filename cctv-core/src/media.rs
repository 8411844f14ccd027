//! Recognising images by their content, never by file name or client MIME type.

/// An accepted image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Jpeg,
    Png,
    Gif,
    WebP,
    Bmp,
}

impl ImageFormat {
    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Gif => "image/gif",
            Self::WebP => "image/webp",
            Self::Bmp => "image/bmp",
        }
    }

    pub(crate) fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::Gif => "gif",
            Self::WebP => "webp",
            Self::Bmp => "bmp",
        }
    }
}

/// Largest accepted upload: 10 MB.
pub const MAX_IMAGE_BYTES: usize = 10 * 1024 * 1024;

/// A recognised image with the dimensions its header declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
}

/// Recognises the format from magic bytes and reads the dimensions from the header.
/// Returns `None` for anything that is not a well-formed header of an accepted format.
pub fn inspect_image(bytes: &[u8]) -> Option<ImageInfo> {
    let format = if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        ImageFormat::Jpeg
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        ImageFormat::Png
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        ImageFormat::Gif
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        ImageFormat::WebP
    } else if bytes.starts_with(b"BM") && bytes.len() >= 26 {
        ImageFormat::Bmp
    } else {
        return None;
    };
    let size = imagesize::blob_size(bytes).ok()?;
    let (width, height) = (
        u32::try_from(size.width).ok()?,
        u32::try_from(size.height).ok()?,
    );
    (width > 0 && height > 0).then_some(ImageInfo {
        format,
        width,
        height,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // A 1×1 PNG.
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\x0f\0\0\x01\x01\0\x05\x18\xd8N\0\0\0\0IEND\xaeB`\x82";

    #[test]
    fn a_png_is_recognised_with_its_size() {
        let info = inspect_image(PNG).unwrap();
        assert_eq!(info.format, ImageFormat::Png);
        assert_eq!((info.width, info.height), (1, 1));
        assert_eq!(info.format.extension(), "png");
    }

    #[test]
    fn text_and_truncated_headers_are_refused() {
        assert_eq!(inspect_image(b"hello, I am not a picture"), None);
        assert_eq!(inspect_image(&PNG[..12]), None);
        assert_eq!(inspect_image(&[0xFF, 0xD8, 0xFF]), None);
    }
}

/// Turns the image a device uploaded into what the product serves: a main image and a
/// thumbnail. A plugin, registered with [`crate::CoreBuilder::image_processor`]
/// (`cctv_image::EventImageProcessor` is the shipped one: bounded decode, fit 1920×1080,
/// watermark, JPEG 85, 320×240 thumbnail). Without one, uploaded images are kept as they
/// came and the image jobs complete as skipped.
///
/// CPU-bound and blocking: the image worker calls it on a blocking thread. A panic inside
/// is caught there and treated as a rejected image.
pub trait ImageProcessor: Send + Sync + std::fmt::Debug + 'static {
    /// `watermark`: lines to stamp on the main image (the event's local time, its id).
    fn process(
        &self,
        upload: &[u8],
        watermark: &[String],
    ) -> Result<ProcessedImages, ImageRejected>;
}

/// One output image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessedImage {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub mime: &'static str,
}

/// What an [`ImageProcessor`] makes of one upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessedImages {
    pub main: ProcessedImage,
    pub thumbnail: ProcessedImage,
}

/// The upload cannot be used (corrupt, too large, unsupported): the event is marked with
/// this reason and the job completes; a retry would fail the same way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ImageRejected(pub String);
