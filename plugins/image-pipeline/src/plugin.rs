//! The shipped [`ImageProcessor`] of `cctv-core`: the pipeline of this crate behind the
//! core's trait, so an embedder can register it, replace it, or leave image processing out.

use cctv_core::media::{ImageProcessor, ImageRejected, ProcessedImage, ProcessedImages};

use crate::{EncodedImage, ImageLimits, Watermark, process_event_image};

/// Bounded decode, fit 1920×1080, watermark, JPEG 85 and a 320×240 thumbnail.
///
/// ```
/// use std::sync::Arc;
/// use cctv_core::media::ImageProcessor;
///
/// let processor: Arc<dyn ImageProcessor> = Arc::new(cctv_image::EventImageProcessor::default());
/// assert!(processor.process(b"not an image", &["Event #1".into()]).is_err());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct EventImageProcessor {
    /// What a decompression bomb is refused by.
    pub limits: ImageLimits,
}

fn served(image: EncodedImage) -> ProcessedImage {
    ProcessedImage {
        bytes: image.bytes,
        width: image.width,
        height: image.height,
        mime: image.mime,
    }
}

impl ImageProcessor for EventImageProcessor {
    fn process(
        &self,
        upload: &[u8],
        watermark: &[String],
    ) -> Result<ProcessedImages, ImageRejected> {
        let watermark = Watermark {
            lines: watermark.to_vec(),
        };
        let out = process_event_image(upload, &watermark, &self.limits)
            .map_err(|e| ImageRejected(e.to_string()))?;
        Ok(ProcessedImages {
            main: served(out.main),
            thumbnail: served(out.thumbnail),
        })
    }
}
