use std::time::Instant;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{ImageEncoder, ImageFormat, RgbImage};

use super::*;

/// A mid-tone diagonal gradient: smooth like a camera frame, never pure white, so white text
/// on the darkened box is distinguishable from the background.
fn gradient(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let r = 60 + (x * 120 / width) as u8;
        let g = 60 + (y * 120 / height) as u8;
        let b = 60 + ((x + y) * 120 / (width + height)) as u8;
        image::Rgb([r, g, b])
    })
}

fn jpeg(image: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(image)
        .unwrap();
    out
}

fn png_gray(width: u32, height: u32) -> Vec<u8> {
    let pixels = vec![128_u8; (width * height) as usize];
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(&pixels, width, height, image::ExtendedColorType::L8)
        .unwrap();
    out
}

fn decode_jpeg(encoded: &EncodedImage) -> RgbImage {
    assert_eq!(encoded.mime, "image/jpeg");
    let image = image::load_from_memory_with_format(&encoded.bytes, ImageFormat::Jpeg).unwrap();
    assert_eq!(
        (image.width(), image.height()),
        (encoded.width, encoded.height)
    );
    image.into_rgb8()
}

fn stamp() -> Watermark {
    Watermark {
        lines: vec!["2026-11-28 00:30:00 WIB".into(), "Event #123456".into()],
    }
}

/// Mean absolute channel difference over a rectangle.
fn mean_diff(a: &RgbImage, b: &RgbImage, x0: u32, y0: u32, x1: u32, y1: u32) -> f64 {
    let mut sum = 0_u64;
    for y in y0..y1 {
        for x in x0..x1 {
            for c in 0..3 {
                sum += u64::from(a.get_pixel(x, y).0[c].abs_diff(b.get_pixel(x, y).0[c]));
            }
        }
    }
    sum as f64 / f64::from((x1 - x0) * (y1 - y0) * 3)
}

/// CRC-32 (PNG's polynomial), bit by bit: enough for patching one chunk.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFF_u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A valid tiny PNG whose IHDR is rewritten to claim `width`×`height` (CRC fixed up): the
/// shape of a decompression bomb, without spending time compressing one.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut png = png_gray(4, 4);
    assert_eq!(&png[12..16], b"IHDR");
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

#[test]
fn a_12_megapixel_photo_is_fitted_to_1080p_keeping_its_aspect() {
    let upload = jpeg(&gradient(4000, 3000));

    let started = Instant::now();
    let out = process_event_image(&upload, &stamp(), &ImageLimits::default()).unwrap();
    eprintln!("process_event_image 4000x3000: {:?}", started.elapsed());

    assert_eq!((out.main.width, out.main.height), (1440, 1080));
    decode_jpeg(&out.main);
    assert_eq!((out.thumbnail.width, out.thumbnail.height), (320, 240));
    decode_jpeg(&out.thumbnail);
}

#[test]
fn a_wide_frame_is_bounded_by_its_width() {
    let out = process_event_image(
        &jpeg(&gradient(3840, 1200)),
        &stamp(),
        &ImageLimits::default(),
    )
    .unwrap();
    assert_eq!((out.main.width, out.main.height), (1920, 600));
}

#[test]
fn the_watermark_changes_the_bottom_left_corner_and_nothing_far_from_it() {
    let upload = jpeg(&gradient(1280, 720));
    let limits = ImageLimits::default();

    let plain = process_event_image(&upload, &Watermark::default(), &limits).unwrap();
    let stamped = process_event_image(&upload, &stamp(), &limits).unwrap();

    let (plain, stamped) = (decode_jpeg(&plain.main), decode_jpeg(&stamped.main));
    // Stamp area: the box starts 10 px from the left and bottom edges (20 px text at 720p).
    assert!(mean_diff(&plain, &stamped, 12, 660, 150, 708) > 25.0);
    // Text is white on a darkened box: the corner holds both very light and dark pixels.
    let corner: Vec<u8> = (660..708)
        .flat_map(|y| (12..150).map(move |x| (x, y)))
        .map(|(x, y)| stamped.get_pixel(x, y).0[0])
        .collect();
    assert!(
        corner.iter().any(|&v| v > 220),
        "no white text in the stamp"
    );
    assert!(
        corner.iter().any(|&v| v < 50),
        "no dark box behind the text"
    );
    // JPEG blocks far from the stamp are encoded identically.
    assert_eq!(mean_diff(&plain, &stamped, 640, 0, 1280, 360), 0.0);
}

#[test]
fn the_thumbnail_is_exactly_320_by_240_whatever_the_aspect() {
    for (w, h) in [(2000, 400), (300, 900), (640, 480), (8000, 300)] {
        let out =
            process_event_image(&jpeg(&gradient(w, h)), &stamp(), &ImageLimits::default()).unwrap();
        let thumb = decode_jpeg(&out.thumbnail);
        assert_eq!(thumb.dimensions(), (320, 240), "source {w}x{h}");
    }
}

#[test]
fn a_small_image_is_not_upscaled() {
    let out = process_event_image(
        &jpeg(&gradient(640, 480)),
        &stamp(),
        &ImageLimits::default(),
    )
    .unwrap();
    assert_eq!((out.main.width, out.main.height), (640, 480));
}

#[test]
fn a_grayscale_png_becomes_an_rgb_jpeg() {
    let out = process_event_image(&png_gray(800, 600), &stamp(), &ImageLimits::default()).unwrap();
    assert_eq!((out.main.width, out.main.height), (800, 600));
    decode_jpeg(&out.main);
}

#[test]
fn a_truncated_jpeg_is_a_clean_error() {
    let upload = jpeg(&gradient(800, 600));
    let half = &upload[..upload.len() / 2];

    let result = process_event_image(half, &stamp(), &ImageLimits::default());

    assert!(
        matches!(result, Err(ImageError::Corrupt(_))),
        "{:?}",
        result.map(|_| "decoded")
    );
}

#[test]
fn a_jpeg_with_garbage_after_its_end_is_still_accepted() {
    let mut upload = jpeg(&gradient(320, 240));
    upload.extend_from_slice(b"trailing bytes some cameras append");
    let out = process_event_image(&upload, &stamp(), &ImageLimits::default()).unwrap();
    assert_eq!((out.main.width, out.main.height), (320, 240));
}

#[test]
fn a_png_bomb_is_refused_from_its_header() {
    let bomb = png_claiming(20_000, 20_000);
    assert!(bomb.len() < 100);

    let started = Instant::now();
    let result = process_event_image(&bomb, &stamp(), &ImageLimits::default());

    assert_eq!(
        result,
        Err(ImageError::TooLarge {
            width: 20_000,
            height: 20_000
        })
    );
    // 1.2 GB of RGBA were never allocated nor zeroed.
    assert!(started.elapsed().as_millis() < 100);
}

#[test]
fn an_image_within_the_sides_but_over_the_memory_limit_is_refused() {
    let limits = ImageLimits {
        max_alloc_bytes: 1024 * 1024,
        ..ImageLimits::default()
    };
    // 2000×2000 grayscale needs 4 MB decoded.
    let result = process_event_image(&png_claiming(2000, 2000), &stamp(), &limits);
    assert_eq!(result, Err(ImageError::LimitsExceeded));
}

#[test]
fn bytes_that_are_no_image_are_unsupported() {
    let limits = ImageLimits::default();
    assert_eq!(
        process_event_image(b"", &stamp(), &limits),
        Err(ImageError::Unsupported)
    );
    assert_eq!(
        process_event_image(b"hello, I am not a picture", &stamp(), &limits),
        Err(ImageError::Unsupported)
    );
}
